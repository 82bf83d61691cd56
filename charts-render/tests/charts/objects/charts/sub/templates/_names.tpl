{{- define "sub.name" -}}
{{ .Chart.Name }}-{{ .Values.suffix }}-{{ .Chart.Version }}-root={{ .Chart.IsRoot }}
{{- end -}}
