//! Copies one image (an index with all its children, or a single manifest) from one
//! repository to another, preserving digests: a smoke test of the client against a real
//! registry. `cargo run -p acr-sync-registry --example copy -- SRC DST [PLATFORM]`
//!
//! Reads credentials from the docker config; prints the creation date of PLATFORM's
//! image (default linux/amd64) and the request counts.

use acr_sync_registry::{Client, ClientConfig, Error, Manifest, Mount, Platform, Reference};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [src, dst, rest @ ..] = args.as_slice() else {
        return Err("usage: copy SRC DST [PLATFORM]".into());
    };
    let src = Reference::parse(src)?;
    let dst = Reference::parse(dst)?;
    let platform: Platform = rest
        .first()
        .map_or(Ok(Platform::default()), |p| p.parse())?;
    let client = Client::new(ClientConfig {
        docker_config: acr_sync_registry::docker_config_path(),
        ..ClientConfig::default()
    })?;

    let top = client.get_manifest(&src).await?;
    let children = if top.is_index() {
        top.children()?
    } else {
        Vec::new()
    };
    for child in &children {
        let m = client
            .get_manifest(&src.with_digest(child.digest.clone()))
            .await?;
        copy_manifest(&client, &src, &dst.with_digest(m.digest.clone()), &m, false).await?;
    }
    copy_manifest(&client, &src, &dst, &top, true).await?;
    println!("copied {src} -> {dst} ({})", top.digest);
    match client.head_manifest(&dst).await? {
        Some(head) => println!("target now has {} ({})", head.digest, head.media_type),
        None => return Err("the target does not have the manifest".into()),
    }
    println!(
        "{platform} created: {:?}",
        client.created(&src, &platform).await?
    );
    println!(
        "tags of the target: {:?}",
        client
            .list_tags(dst.registry(), dst.repository())
            .await?
            .tags
    );
    for s in client.stats() {
        println!(
            "{}: {:?} ratelimit={:?}",
            s.registry, s.requests, s.ratelimit_remaining
        );
    }
    Ok(())
}

async fn copy_manifest(
    client: &Client,
    src: &Reference,
    dst: &Reference,
    m: &Manifest,
    tagged: bool,
) -> Result<(), Error> {
    for blob in m.blobs()? {
        if client
            .blob_exists(dst.registry(), dst.repository(), &blob.digest)
            .await?
            .is_some()
        {
            continue;
        }
        let session = if src.registry() == dst.registry() {
            match client
                .mount_blob(
                    dst.registry(),
                    dst.repository(),
                    src.repository(),
                    &blob.digest,
                )
                .await?
            {
                Mount::Mounted => continue,
                Mount::NotMounted(session) => session,
            }
        } else {
            client
                .start_upload(dst.registry(), dst.repository())
                .await?
        };
        let stream = client
            .get_blob(src.registry(), src.repository(), &blob.digest)
            .await?;
        client
            .upload(session, &blob.digest, blob.size, stream)
            .await?;
    }
    let target = if tagged {
        dst.clone()
    } else {
        Reference::from_parts(dst.registry(), dst.repository(), None, Some(&m.digest))
            .expect("valid")
    };
    client
        .put_manifest(&target, &m.media_type, m.bytes.clone())
        .await?;
    Ok(())
}
