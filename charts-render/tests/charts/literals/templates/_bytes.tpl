{{- define "literals.bytes" -}}
{{- $s := lower . -}}
{{- $n := 0.0 -}}
{{- if hasSuffix "ki" $s -}}{{- $n = mulf (trimSuffix "ki" $s | float64) 0x1p10 -}}
{{- else if hasSuffix "mi" $s -}}{{- $n = mulf (trimSuffix "mi" $s | float64) 0x1p20 -}}
{{- else if hasSuffix "gi" $s -}}{{- $n = mulf (trimSuffix "gi" $s | float64) 0x1p30 -}}
{{- else if hasSuffix "ti" $s -}}{{- $n = mulf (trimSuffix "ti" $s | float64) 0x1p40 -}}
{{- else if hasSuffix "ei" $s -}}{{- $n = mulf (trimSuffix "ei" $s | float64) 0x1p60 -}}
{{- else if hasSuffix "m" $s -}}{{- $n = mulf (trimSuffix "m" $s | float64) 1e6 -}}
{{- end -}}
{{- $n | int64 -}}
{{- end -}}
