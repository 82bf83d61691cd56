//! The harness against real docker-registry processes: every registry kind, pushes, reads back.

use acr_sync_testkit::{
    AnonymousAccess, FaultProxy, ImageBuilder, MANIFEST_ACCEPT, MediaKind, Registry,
    RegistryOptions, TestIndex, TokenServerOptions, TokenUser,
};

async fn get_status(client: &reqwest::Client, url: &str) -> reqwest::StatusCode {
    client.get(url).send().await.expect("request").status()
}

#[tokio::test]
async fn anonymous_registry_takes_images_and_indexes() {
    let reg = Registry::start(RegistryOptions::anonymous()).await;
    assert!(reg.host().starts_with("127.0.0.1:"));
    assert!(reg.base_url().starts_with("http://127.0.0.1:"));
    let pusher = reg.pusher();

    let oci = ImageBuilder::new(1).random_layer(4096).build();
    let d = pusher.push_image("team/app", "v1", &oci).await;
    assert_eq!(d, oci.digest);
    let back = pusher
        .get_manifest("team/app", "v1")
        .await
        .expect("manifest");
    assert_eq!(back.digest, oci.digest);
    assert_eq!(back.header_digest.as_deref(), Some(oci.digest.as_str()));
    assert_eq!(back.media_type, oci.media_type);
    assert_eq!(back.bytes, oci.manifest);
    for blob in oci.blobs() {
        assert_eq!(
            pusher.get_blob("team/app", &blob.digest).await.unwrap(),
            blob.bytes
        );
    }

    let docker = ImageBuilder::new(2).docker().build();
    pusher.push_image("team/app", "docker", &docker).await;
    let back = pusher.get_manifest("team/app", "docker").await.unwrap();
    assert_eq!(back.media_type, docker.media_type);
    assert_eq!(back.digest, docker.digest);

    for kind in [MediaKind::Oci, MediaKind::Docker] {
        let index = TestIndex::multi_arch(3, kind, true);
        let tag = format!("multi-{kind:?}").to_lowercase();
        let d = pusher.push_index("team/multi", &tag, &index).await;
        assert_eq!(d, index.digest);
        let back = pusher.get_manifest("team/multi", &tag).await.unwrap();
        assert_eq!(back.digest, index.digest);
        assert_eq!(back.media_type, index.media_type);
        for child in index.children() {
            let c = pusher
                .get_manifest("team/multi", &child.digest)
                .await
                .unwrap();
            assert_eq!(c.bytes, child.manifest);
        }
    }

    let mut tags = pusher.tags("team/app").await;
    tags.sort();
    assert_eq!(tags, vec!["docker", "v1"]);
    assert!(pusher.get_manifest("team/app", "nope").await.is_none());

    // The access log saw the pushes.
    let reqs = reg.requests_settled().await;
    assert!(
        reqs.iter()
            .any(|r| r.method == "PUT" && r.path == "/v2/team/app/manifests/v1" && r.status == 201)
    );
    assert!(reqs.iter().filter(|r| r.is_upload_start()).count() >= 2);
}

#[tokio::test]
async fn skopeo_reads_back_the_same_bytes() {
    if std::process::Command::new("skopeo")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("skopeo is not installed: apt-get install -y skopeo");
    }
    let reg = Registry::start(RegistryOptions::anonymous()).await;
    let index = TestIndex::multi_arch(9, MediaKind::Oci, true);
    reg.pusher().push_index("lib/thing", "1.0", &index).await;
    let out = tokio::process::Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{}/lib/thing:1.0", reg.host()))
        .output()
        .await
        .expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, index.manifest.to_vec());
}

#[tokio::test]
async fn basic_auth_registry() {
    let reg = Registry::start(RegistryOptions::basic(&[("alice", "wonder")])).await;
    let client = reg.client();
    let url = format!("{}/v2/", reg.base_url());
    let resp = client.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let challenge = resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(challenge.starts_with("Basic "), "{challenge}");
    let ok = client
        .get(&url)
        .basic_auth("alice", Some("wonder"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let bad = client
        .get(&url)
        .basic_auth("alice", Some("nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);

    let img = ImageBuilder::new(4).build();
    reg.pusher().push_image("a/b", "t", &img).await;
    let m = client
        .get(format!("{}/v2/a/b/manifests/t", reg.base_url()))
        .basic_auth("alice", Some("wonder"))
        .header("accept", MANIFEST_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(m.status(), 200);
    assert_eq!(m.bytes().await.unwrap(), img.manifest);
}

#[tokio::test]
async fn token_auth_registry() {
    let opts = TokenServerOptions::new()
        .user(TokenUser::new("writer", "w-pass"))
        .user(TokenUser::pull_only("reader", "r-pass"))
        .anonymous(AnonymousAccess::Pull);
    let reg = Registry::start(RegistryOptions::token(opts)).await;
    let ts = reg.token_server().expect("token server").clone();
    let img = ImageBuilder::new(5).build();
    reg.pusher().push_image("team/app", "v1", &img).await;
    assert_eq!(ts.issued(), 0, "the pusher mints tokens directly");
    assert!(ts.minted() > 0);

    let client = reg.client();
    let manifest_url = format!("{}/v2/team/app/manifests/v1", reg.base_url());
    let resp = client
        .get(&manifest_url)
        .header("accept", MANIFEST_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let challenge = resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(challenge.contains(&ts.realm()), "{challenge}");
    assert!(
        challenge.contains("scope=\"repository:team/app:pull\""),
        "{challenge}"
    );

    let token_for = |user: Option<(&str, &str)>, scopes: &[&str]| {
        let client = client.clone();
        let mut url = format!("{}?service={}", ts.realm(), ts.service());
        for s in scopes {
            url.push_str(&format!("&scope={s}"));
        }
        let user = user.map(|(u, p)| (u.to_string(), p.to_string()));
        async move {
            let mut rb = client.get(url);
            if let Some((u, p)) = user {
                rb = rb.basic_auth(u, Some(p));
            }
            rb.send().await.unwrap()
        }
    };

    // A reader pulls.
    let resp = token_for(Some(("reader", "r-pass")), &["repository:team/app:pull"]).await;
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["token"], body["access_token"]);
    assert!(body["expires_in"].as_u64().unwrap() > 0);
    let token = body["token"].as_str().unwrap().to_string();
    let resp = client
        .get(&manifest_url)
        .bearer_auth(&token)
        .header("accept", MANIFEST_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.unwrap(), img.manifest);

    // A reader cannot push: its token grants pull only, and the registry refuses the upload.
    let resp = token_for(
        Some(("reader", "r-pass")),
        &["repository:team/app:pull,push"],
    )
    .await;
    let token = resp.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let up = client
        .post(format!("{}/v2/team/app/blobs/uploads/", reg.base_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        up.status(),
        401,
        "the registry answers insufficient_scope with 401"
    );
    let challenge = up.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(challenge.contains("insufficient_scope"), "{challenge}");

    // A writer can push.
    let resp = token_for(
        Some(("writer", "w-pass")),
        &["repository:team/app:pull,push"],
    )
    .await;
    let token = resp.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let up = client
        .post(format!("{}/v2/team/app/blobs/uploads/", reg.base_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(up.status(), 202);

    // Wrong password: 401 from the token server. Anonymous: pull only.
    let resp = token_for(Some(("writer", "wrong")), &["repository:team/app:pull"]).await;
    assert_eq!(resp.status(), 401);
    let resp = token_for(None, &["repository:team/app:pull,push"]).await;
    assert_eq!(resp.status(), 200);
    let issued = ts.issued();
    assert_eq!(issued, 4);
    let last = ts.requests().pop().unwrap();
    assert_eq!(last.user, None);
    assert_eq!(last.granted[0].actions, vec!["pull"]);
    assert_eq!(
        get_status(&client, &format!("{}/v2/", reg.base_url())).await,
        401
    );
}

#[tokio::test]
async fn token_server_can_forbid_and_reject_anonymous() {
    let opts = TokenServerOptions::new()
        .user(TokenUser::pull_only("reader", "r"))
        .anonymous(AnonymousAccess::Reject)
        .forbid_missing_grants(true);
    let reg = Registry::start(RegistryOptions::token(opts)).await;
    let ts = reg.token_server().unwrap();
    let client = reg.client();
    let url = format!(
        "{}?service={}&scope=repository:x/y:pull,push",
        ts.realm(),
        ts.service()
    );
    let r = client
        .get(&url)
        .basic_auth("reader", Some("r"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let url = format!(
        "{}?service={}&scope=repository:x/y:pull",
        ts.realm(),
        ts.service()
    );
    let r = client
        .get(&url)
        .basic_auth("reader", Some("r"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(ts.issued(), 1);
}

#[tokio::test]
async fn tls_registry_is_reachable_with_its_ca_only() {
    let reg = Registry::start(RegistryOptions::anonymous().tls()).await;
    assert!(reg.base_url().starts_with("https://127.0.0.1:"));
    let ca = reg.ca_pem().expect("CA");
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(reg.ca_file().unwrap().is_file());
    let client = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([reqwest::Certificate::from_pem(ca.as_bytes()).unwrap()])
        .build()
        .unwrap();
    assert_eq!(
        get_status(&client, &format!("{}/v2/", reg.base_url())).await,
        200
    );
    // localhost is in the certificate too.
    let localhost = format!("https://localhost:{}/v2/", reg.port());
    assert_eq!(get_status(&client, &localhost).await, 200);
    // Without the CA: refused.
    let plain = reqwest::Client::builder().no_proxy().build().unwrap();
    assert!(
        plain
            .get(format!("{}/v2/", reg.base_url()))
            .send()
            .await
            .is_err()
    );

    let img = ImageBuilder::new(6).build();
    reg.pusher().push_image("secure/app", "v1", &img).await;
    assert_eq!(
        reg.pusher()
            .get_manifest("secure/app", "v1")
            .await
            .unwrap()
            .digest,
        img.digest
    );

    // A fault proxy (plain HTTP) in front of the TLS registry.
    let proxy = FaultProxy::start_with_ca(&reg.base_url(), Some(ca)).await;
    let r = plain
        .get(format!("{}/v2/secure/app/manifests/v1", proxy.base_url()))
        .header("accept", MANIFEST_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), img.manifest);
}

#[tokio::test]
async fn many_tags_page_and_deletes_work() {
    let reg = Registry::start(RegistryOptions::anonymous().delete_enabled()).await;
    let pusher = reg.pusher();
    let img = ImageBuilder::new(7).build();
    let digest = pusher.push_image("paged/app", "base", &img).await;
    let tags: Vec<String> = (0..250).map(|i| format!("t{i:03}")).collect();
    let started = std::time::Instant::now();
    pusher.tags_many("paged/app", &digest, &tags).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert_eq!(pusher.tags("paged/app").await.len(), 251);

    // docker-registry 2.8 ignores `n`: one answer with every tag, and no Link header.
    let client = reg.client();
    let r = client
        .get(format!("{}/v2/paged/app/tags/list?n=100", reg.base_url()))
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("link").is_none());
    let page: serde_json::Value = r.json().await.unwrap();
    assert_eq!(page["tags"].as_array().unwrap().len(), 251);

    let r = client
        .delete(format!("{}/v2/paged/app/manifests/t001", reg.base_url()))
        .send()
        .await
        .unwrap();
    // docker-registry 2.8 cannot delete a tag through the API ...
    assert_eq!(r.status(), 400);
    // ... so the harness removes it from storage.
    reg.untag("paged/app", "t001");
    let tags = pusher.tags("paged/app").await;
    assert_eq!(tags.len(), 250);
    assert!(!tags.contains(&"t001".to_string()));
    assert!(pusher.get_manifest("paged/app", "t001").await.is_none());
    assert!(pusher.get_manifest("paged/app", &digest).await.is_some());

    // Delete by digest: every tag goes.
    let other = ImageBuilder::new(8).build();
    let d = pusher.push_image("del/app", "x", &other).await;
    pusher.delete("del/app", &d).await;
    assert!(pusher.get_manifest("del/app", &d).await.is_none());
    assert!(pusher.get_manifest("del/app", "x").await.is_none());
}

#[tokio::test]
async fn missing_binary_message_names_the_package() {
    // Tests share a process (and its environment), so the probe runs in a child process.
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args([
            "--exact",
            "missing_binary_probe",
            "--nocapture",
            "--include-ignored",
        ])
        .env("ACR_SYNC_DOCKER_REGISTRY", "/nonexistent/docker-registry")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("apt-get install -y docker-registry"),
        "{text}"
    );
}

#[tokio::test]
#[ignore = "run by missing_binary_message_names_the_package in a child process"]
async fn missing_binary_probe() {
    let _ = Registry::start(RegistryOptions::anonymous()).await;
}

#[tokio::test]
async fn access_log_tells_mounts_from_uploads() {
    let reg = Registry::start(RegistryOptions::anonymous()).await;
    let pusher = reg.pusher();
    let img = ImageBuilder::new(11).build();
    pusher.push_image("src/app", "v1", &img).await;
    let mark = reg.log_mark().await;
    let r = reg
        .client()
        .post(format!(
            "{}/v2/dst/app/blobs/uploads/?mount={}&from=src/app",
            reg.base_url(),
            img.layers[0].digest
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    pusher.put_blob("dst/app", &img.config.bytes).await;
    let since = reg.requests_since(mark).await;
    assert_eq!(
        since.iter().filter(|r| r.is_mount()).count(),
        1,
        "{since:?}"
    );
    assert_eq!(
        since.iter().filter(|r| r.is_upload_start()).count(),
        1,
        "{since:?}"
    );
    assert_eq!(
        since
            .iter()
            .filter(|r| r.matches("PUT", "/blobs/uploads/"))
            .count(),
        1
    );
    assert!(reg.count("POST", "/v2/dst/app/blobs/uploads/") >= 2);
}
