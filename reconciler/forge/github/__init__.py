"""The GitHub forge: promotion requests are pull requests on github.com or GitHub Enterprise.

The one package that imports PyGithub and PyJWT. ``forge.GitHubForge`` is the Forge port
(pull requests, reviews, labels); it delegates to ``client`` (PyGithub, conditional GETs,
retries, rate-limit metering, errors), ``pulls`` (a pull's JSON as the port's Request),
``protection`` (proof that GitHub enforces code-owner review), ``deployments`` (merged and
live promotions as GitHub Deployments). ``app`` mints a GitHub App's installation tokens.

Errors: 5xx, rate limits and network failures are TransientError; what the token may not
do is PermanentError. Messages quote GitHub's ``message`` field, never a header or a URL
with credentials; the token only lives in the Authorization header.
"""
