{{- define "functions.data" -}}
{{ toYaml .Values }}
{{- end -}}
