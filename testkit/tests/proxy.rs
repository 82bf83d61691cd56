//! The fault proxy in front of a real registry.

use acr_sync_testkit::{
    Fault, FaultKind, FaultProxy, ImageBuilder, MANIFEST_ACCEPT, PushAuth, Pusher, Registry,
    RegistryOptions, TokenServerOptions,
};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn injects_429_then_passes_through() {
    let reg = Registry::start(RegistryOptions::anonymous()).await;
    let img = ImageBuilder::new(1).build();
    reg.pusher().push_image("a/b", "v1", &img).await;
    let proxy = FaultProxy::start(&reg.base_url()).await;
    proxy.add(
        Fault::too_many_requests(7, 1)
            .method("GET")
            .path("/manifests/"),
    );
    proxy.add(Fault::add_header("ratelimit-remaining", "97;w=21600"));
    let url = format!("{}/v2/a/b/manifests/v1", proxy.base_url());
    let c = client();

    let r = c
        .get(&url)
        .header("accept", MANIFEST_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    assert_eq!(r.headers()["ratelimit-remaining"], "97;w=21600");

    let r = c
        .get(&url)
        .header("accept", MANIFEST_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["ratelimit-remaining"], "97;w=21600");
    assert_eq!(r.headers()["docker-content-digest"], img.digest.as_str());
    assert_eq!(r.bytes().await.unwrap(), img.manifest);

    let seen = proxy.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].status, 429);
    assert_eq!(
        seen[0].fault,
        Some(FaultKind::TooManyRequests { retry_after: 7 })
    );
    assert_eq!(seen[1].status, 200);
    assert_eq!(seen[1].fault, None);
    assert_eq!(proxy.count("GET", "/manifests/v1"), 2);
    // Only the forwarded one reached the registry.
    let reqs = reg.requests_settled().await;
    assert_eq!(
        reqs.iter()
            .filter(|r| r.method == "GET" && r.path == "/v2/a/b/manifests/v1")
            .count(),
        1
    );
}

#[tokio::test]
async fn status_drop_and_corrupt_faults() {
    let reg = Registry::start(RegistryOptions::anonymous()).await;
    let img = ImageBuilder::new(2).random_layer(100_000).build();
    reg.pusher().push_image("a/b", "v1", &img).await;
    let proxy = FaultProxy::start(&reg.base_url()).await;
    let c = client();
    let layer = &img.layers[0];
    let blob_url = format!("{}/v2/a/b/blobs/{}", proxy.base_url(), layer.digest);

    proxy.add(Fault::status(503, 2).path("/blobs/"));
    for _ in 0..2 {
        assert_eq!(c.get(&blob_url).send().await.unwrap().status(), 503);
    }
    proxy.clear();

    proxy.add(Fault::drop_connection(1).path("/blobs/"));
    assert!(c.get(&blob_url).send().await.is_err());

    proxy.add(Fault::corrupt_blob(1));
    let r = c.get(&blob_url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-length"],
        layer.size().to_string().as_str()
    );
    assert_eq!(r.headers()["docker-content-digest"], layer.digest.as_str());
    let body = r.bytes().await.unwrap();
    assert_eq!(body.len(), layer.bytes.len());
    assert_ne!(body, layer.bytes);

    // Streamed through unchanged afterwards.
    let body = c
        .get(&blob_url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(body, layer.bytes);
    // HEAD keeps its length header and has no body.
    let r = c.head(&blob_url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-length"],
        layer.size().to_string().as_str()
    );
}

#[tokio::test]
async fn pushes_through_the_proxy_with_location_rewritten_and_challenges_intact() {
    let reg = Registry::start(RegistryOptions::token(TokenServerOptions::new())).await;
    let proxy = FaultProxy::start(&reg.base_url()).await;
    let c = client();

    // The challenge passes through: the realm still points at the token server.
    let r = c
        .get(format!("{}/v2/", proxy.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(&reg.token_server().unwrap().realm()),
        "{challenge}"
    );

    // Upload Locations point at the proxy, so a push through it stays in it.
    let ts = reg.token_server().unwrap().clone();
    let token = ts.mint("t", &["repository:p/q:pull,push"]);
    let r = c
        .post(format!("{}/v2/p/q/blobs/uploads/", proxy.base_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let loc = r.headers()["location"].to_str().unwrap();
    assert!(loc.starts_with(&proxy.base_url()), "{loc}");

    let pusher = Pusher::new(&proxy.base_url(), c.clone(), PushAuth::Token(ts));
    let img = ImageBuilder::new(3).random_layer(300_000).build();
    let d = pusher.push_image("p/q", "v1", &img).await;
    assert_eq!(pusher.get_manifest("p/q", "v1").await.unwrap().digest, d);
    assert_eq!(
        reg.pusher()
            .get_blob("p/q", &img.layers[0].digest)
            .await
            .unwrap(),
        img.layers[0].bytes
    );
    assert!(proxy.count("PUT", "/blobs/uploads/") >= 2);
}

#[tokio::test]
async fn pages_tag_lists_that_the_registry_does_not_page() {
    let reg = Registry::start(RegistryOptions::anonymous()).await;
    let pusher = reg.pusher();
    let d = pusher
        .push_image("r/s", "base", &ImageBuilder::new(4).build())
        .await;
    let tags: Vec<String> = (0..25).map(|i| format!("v{i:02}")).collect();
    pusher.tags_many("r/s", &d, &tags).await;
    let proxy = FaultProxy::start(&reg.base_url()).await;
    proxy.add(Fault::paginate_tags(Some(10)));
    let c = client();

    let mut url = format!("{}/v2/r/s/tags/list", proxy.base_url());
    let mut all = Vec::new();
    let mut pages = 0;
    loop {
        let r = c.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let next = r
            .headers()
            .get("link")
            .map(|l| l.to_str().unwrap().to_string());
        let page: serde_json::Value = r.json().await.unwrap();
        assert_eq!(page["name"], "r/s");
        all.extend(
            page["tags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_string()),
        );
        pages += 1;
        match next {
            Some(link) => {
                assert!(link.ends_with("; rel=\"next\""), "{link}");
                let target = link.trim_start_matches('<').split('>').next().unwrap();
                url = format!("{}{}", proxy.base_url(), target);
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(all.len(), 26);
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted);
    let r = c
        .get(format!(
            "{}/v2/r/s/tags/list?n=5&last=v20",
            proxy.base_url()
        ))
        .send()
        .await
        .unwrap();
    let page: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        page["tags"],
        serde_json::json!(["v21", "v22", "v23", "v24"])
    );
}
