//! Finding the images a rendered chart deploys: every container, init container and
//! ephemeral container of any Pod spec (bare Pods, workload templates, CronJob job
//! templates, and custom resources that embed Pod specs), plus the images a chart
//! declares in its `artifacthub.io/images` annotation.

use acr_sync_registry::Reference;

use crate::Error;
use crate::render::Manifest;

const CONTAINER_LISTS: &[&str] = &["initContainers", "containers", "ephemeralContainers"];

/// Image strings in document order, each once, not yet qualified.
pub(crate) fn raw_images(manifests: &[Manifest]) -> Result<Vec<(String, String)>, Error> {
    let mut out: Vec<(String, String)> = Vec::new();
    for m in manifests {
        let doc = crate::render::parse_manifest(&m.content).map_err(|e| Error::Manifest {
            source_file: m.source.clone(),
            message: e.to_string(),
        })?;
        let mut found = Vec::new();
        walk(&doc, &mut found);
        for image in found {
            if !out.iter().any(|(i, _)| *i == image) {
                out.push((image, m.source.clone()));
            }
        }
    }
    Ok(out)
}

/// Depth-first, so a Pod spec's containers come in the order Kubernetes starts them.
fn walk(v: &yaml_serde::Value, out: &mut Vec<String>) {
    match v {
        yaml_serde::Value::Mapping(m) => {
            let is_pod_spec = CONTAINER_LISTS
                .iter()
                .any(|k| m.get(*k).is_some_and(|c| c.is_sequence()));
            if is_pod_spec {
                for key in CONTAINER_LISTS {
                    for c in m
                        .get(*key)
                        .and_then(|c| c.as_sequence())
                        .into_iter()
                        .flatten()
                    {
                        if let Some(image) = c
                            .get("image")
                            .and_then(|i| i.as_str())
                            .map(str::trim)
                            .filter(|i| !i.is_empty())
                        {
                            out.push(image.to_string());
                        }
                    }
                }
            }
            for (k, child) in m {
                if !(is_pod_spec && k.as_str().is_some_and(|k| CONTAINER_LISTS.contains(&k))) {
                    walk(child, out);
                }
            }
        }
        yaml_serde::Value::Sequence(s) => s.iter().for_each(|c| walk(c, out)),
        yaml_serde::Value::Tagged(t) => walk(&t.value, out),
        _ => {}
    }
}

/// Images listed in a chart's `artifacthub.io/images` annotation (`- name: x\n  image: y`).
pub(crate) fn annotated_images(annotation: &str) -> Vec<String> {
    let Ok(doc) = yaml_serde::from_str::<yaml_serde::Value>(annotation) else {
        return Vec::new();
    };
    doc.as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            e.get("image")
                .and_then(|i| i.as_str())
                .map(|s| s.trim().to_string())
        })
        .filter(|s| !s.is_empty())
        .collect()
}

/// Qualifies image strings as docker does, keeping the first occurrence of each.
pub(crate) fn qualify(images: &[(String, String)]) -> Result<Vec<Reference>, Error> {
    let mut out: Vec<Reference> = Vec::new();
    for (image, source) in images {
        let r = Reference::parse(image).map_err(|e| Error::Image {
            source_file: source.clone(),
            image: image.clone(),
            source: e,
        })?;
        if !out.contains(&r) {
            out.push(r);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(content: &str) -> Manifest {
        Manifest {
            source: "c/templates/x.yaml".into(),
            content: content.into(),
            kind: String::new(),
            hook: false,
            test: false,
        }
    }

    #[test]
    fn finds_every_container_kind() {
        let cron = "kind: CronJob\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          initContainers: [{name: i, image: busybox}]\n          containers: [{name: c, image: 'ghcr.io/a/b:1'}]\n";
        let pod = "kind: Pod\nspec:\n  containers: [{name: c, image: busybox}]\n  ephemeralContainers: [{name: e, image: 'alpine:3'}]\n";
        let raw = raw_images(&[m(cron), m(pod)]).unwrap();
        let names: Vec<String> = qualify(&raw)
            .unwrap()
            .iter()
            .map(|r| r.to_string())
            .collect();
        assert_eq!(
            names,
            [
                "docker.io/library/busybox:latest",
                "ghcr.io/a/b:1",
                "docker.io/library/alpine:3"
            ]
        );
    }

    #[test]
    fn reads_artifacthub_annotation() {
        assert_eq!(
            annotated_images("- name: a\n  image: quay.io/x/y:2\n- name: b\n  image: z\n"),
            ["quay.io/x/y:2", "z"]
        );
    }
}
