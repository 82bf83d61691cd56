{{- define "idioms.block" -}}
default block body {{ . }}
{{- end -}}
{{- define "idioms.img" -}}
{{- $r := .repository -}}
{{- with .registry }}{{ $r = printf "%s/%s" . $r }}{{ end -}}
{{ $r }}:{{ .tag | default "latest" }}
{{- end -}}
{{- define "idioms.tplvalues" -}}
{{- $value := typeIs "string" .value | ternary .value (.value | toYaml) }}
{{- if contains "{{" (toJson .value) }}
  {{- if .scope }}
    {{- tpl (cat "{{- with $.RelativeScope -}}" $value "{{- end }}") (merge (dict "RelativeScope" .scope) .context) }}
  {{- else }}
    {{- tpl $value .context }}
  {{- end }}
{{- else }}
  {{- $value }}
{{- end }}
{{- end -}}
