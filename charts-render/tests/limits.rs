//! Charts from the network are read within limits: an archive that expands into
//! gigabytes is refused with a clear error, using little memory, and a chart directory
//! cannot link to files outside itself.

use std::io::Write;
use std::path::Path;
use std::process::Command;

/// A `.tgz` holding a tiny chart and one file of `zeros` zero bytes, streamed into
/// the compressor (the test never holds the expanded bytes).
fn bomb(path: &Path, zeros: u64) {
    let file = std::fs::File::create(path).unwrap();
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let chart = b"apiVersion: v2\nname: bomb\nversion: 0.1.0\n";
    let mut header = tar::Header::new_gnu();
    header.set_size(chart.len() as u64);
    header.set_mode(0o644);
    tar.append_data(&mut header, "bomb/Chart.yaml", &chart[..])
        .unwrap();
    let mut header = tar::Header::new_gnu();
    header.set_size(zeros);
    header.set_mode(0o644);
    tar.append_data(
        &mut header,
        "bomb/files/zeros",
        std::io::repeat(0).take(zeros),
    )
    .unwrap();
    tar.into_inner().unwrap().finish().unwrap().flush().unwrap();
}

use std::io::Read as _;

#[test]
fn a_decompression_bomb_is_refused_with_little_memory() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("bomb-0.1.0.tgz");
    // 128 MiB of zeros: before the limits, reading it cost several times that in memory.
    bomb(&archive, 128 * 1024 * 1024);
    let compressed = std::fs::metadata(&archive).unwrap().len();
    assert!(compressed < 4 * 1024 * 1024, "{compressed} bytes");

    // GNU time prints the peak resident set size (KiB) as the last line of stderr.
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(env!("CARGO_BIN_EXE_charts-render"))
        .arg("template")
        .arg(&archive)
        .output()
        .expect("/usr/bin/time runs (Debian package time)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("invalid chart archive")
            && stderr.contains("files/zeros is larger than 5 MiB once expanded"),
        "{stderr}"
    );
    let peak_kib: u64 = stderr.lines().last().unwrap().trim().parse().unwrap();
    assert!(peak_kib < 100 * 1024, "peak RSS {peak_kib} KiB");
}

#[cfg(unix)]
#[test]
fn a_chart_directory_cannot_link_outside_itself() {
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("linked");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: linked\nversion: 0.1.0\n",
    )
    .unwrap();
    let secret = dir.path().join("outside.txt");
    std::fs::write(&secret, "not part of the chart").unwrap();
    std::os::unix::fs::symlink(&secret, chart.join("files.txt")).unwrap();
    let err = charts_render::chart::Chart::load(&chart)
        .unwrap_err()
        .to_string();
    assert!(err.contains("files.txt links outside the chart"), "{err}");
    // A link within the chart is followed, as helm does.
    std::fs::remove_file(chart.join("files.txt")).unwrap();
    std::fs::write(chart.join("real.txt"), "inside").unwrap();
    std::os::unix::fs::symlink(chart.join("real.txt"), chart.join("files.txt")).unwrap();
    assert!(charts_render::chart::Chart::load(&chart).is_ok());
}
