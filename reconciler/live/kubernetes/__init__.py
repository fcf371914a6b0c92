"""The `kubernetes` live source: a workload's image spec and its pods' image digests.

Read-only: ``list`` and ``watch`` on the workloads (apps/v1 deployments, statefulsets,
daemonsets) and pods of each namespace read, kept in memory between cycles (informer.py),
through the official ``kubernetes`` client (only this package imports it).
Credentials: an explicit kubeconfig, else the policy's
``context`` in the kubeconfig (``KUBECONFIG`` or ``~/.kube/config``), else ``KUBECONFIG``
when set, else the pod's service account (in-cluster), else ``~/.kube/config``.

What runs is what the pods' ``imageID`` say, not the spec, which may name a tag. "Since"
is the earliest start of the container among the pods on the digest, a fact the cluster
keeps, so a restarted daemon reports the same time; a rollout that replaces every pod (even
one that keeps the image) starts it again, which can only make soak longer.
"""

from reconciler.live.kubernetes.reader import KubernetesLiveReader
from reconciler.live.kubernetes.workloads import NO_DIGEST_YET

__all__ = ["NO_DIGEST_YET", "KubernetesLiveReader"]
