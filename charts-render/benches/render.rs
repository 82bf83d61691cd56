//! Times rendering a generated chart of 40 templates (helpers, `include`, `range`,
//! `toYaml`, `tpl`) and prints the mean. Run: `cargo bench -p charts-render`.

use std::collections::BTreeMap;
use std::time::Instant;

use charts_render::values::parse_values;
use charts_render::{Chart, RenderOptions, render};

const HELPERS: &str = r#"
{{- define "bench.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- define "bench.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}
"#;

const TEMPLATE: &str = r#"
{{- $svc := index .Values.services "NAME" }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "bench.fullname" . }}-NAME
  labels:
    {{- include "bench.labels" . | nindent 4 }}
spec:
  replicas: {{ $svc.replicas | default 1 }}
  template:
    metadata:
      annotations:
        note: {{ tpl .Values.note . | quote }}
    spec:
      containers:
        - name: NAME
          image: "{{ .Values.registry }}/{{ $svc.repository }}:{{ $svc.tag | default .Chart.AppVersion }}"
          env:
            {{- range $k, $v := .Values.env }}
            - name: {{ $k | upper }}
              value: {{ $v | quote }}
            {{- end }}
          resources:
            {{- toYaml .Values.resources | nindent 12 }}
"#;

fn chart(n: usize) -> Chart {
    let mut files = BTreeMap::new();
    files.insert(
        "Chart.yaml".to_string(),
        b"apiVersion: v2\nname: bench\nversion: 1.0.0\nappVersion: 2.0.0\n".to_vec(),
    );
    let mut values = String::from(
        "registry: ghcr.io/bench\nnote: \"{{ .Release.Name }} in {{ .Release.Namespace }}\"\nresources: {limits: {cpu: 100m, memory: 64Mi}}\nenv:\n",
    );
    for i in 0..20 {
        values.push_str(&format!("  var_{i}: value-{i}\n"));
    }
    values.push_str("services:\n");
    for i in 0..n {
        values.push_str(&format!(
            "  svc{i}: {{repository: app/svc{i}, replicas: {}, tag: ''}}\n",
            i % 3 + 1
        ));
        files.insert(
            format!("templates/svc{i}.yaml"),
            TEMPLATE.replace("NAME", &format!("svc{i}")).into_bytes(),
        );
    }
    files.insert("values.yaml".to_string(), values.into_bytes());
    files.insert(
        "templates/_helpers.tpl".to_string(),
        HELPERS.as_bytes().to_vec(),
    );
    Chart::from_files(files, "bench").expect("valid chart")
}

fn main() {
    let chart = chart(40);
    let user = parse_values("").expect("empty values");
    let opts = RenderOptions::default();
    let rounds = 20;
    let start = Instant::now();
    let mut docs = 0;
    for _ in 0..rounds {
        docs = render(&chart, &user, &opts).expect("renders").len();
    }
    let mean = start.elapsed() / rounds;
    println!("render: 40 templates -> {docs} manifests in {mean:?} per render (mean of {rounds})");
    assert!(
        mean.as_secs_f64() < 1.0,
        "a 40-template chart must render well under a second"
    );
}
