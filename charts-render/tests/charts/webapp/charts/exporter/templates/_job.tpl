{{- define "exporter.job" -}}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .name }}
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: exporter
          image: {{ .image }}
{{- end }}
