{{- define "common.teamLabel" -}}
team: {{ .Values.global.team | default "none" }}
{{- end }}
{{- define "common.job" -}}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .name }}
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: {{ .name }}
          image: {{ .image }}
{{- end }}
