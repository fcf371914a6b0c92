{{/*
The image as Bitnami's charts build it from registry, repository, tag and digest (written
for these tests after the behaviour their README documents: a digest, when set, replaces
the tag; global.imageRegistry, when set, replaces the registry).
*/}}
{{- define "layout.image" -}}
{{- $registry := .Values.image.registry -}}
{{- if and .Values.global .Values.global.imageRegistry -}}{{- $registry = .Values.global.imageRegistry -}}{{- end -}}
{{- $end := printf ":%s" (toString .Values.image.tag) -}}
{{- if .Values.image.digest -}}{{- $end = printf "@%s" (toString .Values.image.digest) -}}{{- end -}}
{{- if $registry -}}{{ printf "%s/%s%s" $registry .Values.image.repository $end }}{{- else -}}{{ printf "%s%s" .Values.image.repository $end }}{{- end -}}
{{- end -}}
