{{- define "svc.name" -}}
svc-{{ .Chart.Name }}
{{- end }}
