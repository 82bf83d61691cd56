{{/* Overrides the subchart's define of the same name: the parent's wins. */}}
{{- define "svc.name" -}}
umbrella-{{ .Chart.Name }}
{{- end }}
