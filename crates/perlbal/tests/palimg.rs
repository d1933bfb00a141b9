//! The Palimg plugin through the real `perlbal` binary: paletted PNG and
//! GIF files made here (png and gif crates), fetched over HTTP with
//! colours in the URL, then decoded with those crates: the palette is the
//! new one, the pixels (palette indexes) are the file's; PNG's PLTE CRC is
//! checked by the decoder. The bytes are compared with Debian's 1.80.

use std::borrow::Cow;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use danga_testkit::{have_command, require, wait_for, Spawn};

/// 4x4 pixels using palette entries 0..=3.
const PIXELS: [u8; 16] = [0, 1, 2, 3, 3, 2, 1, 0, 0, 0, 1, 1, 2, 2, 3, 3];
const PALETTE: [u8; 12] = [10, 10, 10, 20, 20, 20, 30, 30, 30, 40, 40, 40];

fn make_png() -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, 4, 4);
        enc.set_color(png::ColorType::Indexed);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_palette(PALETTE.to_vec());
        let mut w = enc.write_header().expect("png header");
        w.write_image_data(&PIXELS).expect("png data");
    }
    out
}

fn make_gif() -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = gif::Encoder::new(&mut out, 4, 4, &PALETTE).expect("gif");
        let frame = gif::Frame {
            width: 4,
            height: 4,
            buffer: Cow::Borrowed(&PIXELS),
            ..gif::Frame::default()
        };
        enc.write_frame(&frame).expect("gif frame");
    }
    out
}

/// A GET; (status line, body).
fn fetch(addr: SocketAddr, path: &str) -> (String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: t\r\n\r\n").as_bytes())
        .expect("write");
    let mut all = Vec::new();
    s.read_to_end(&mut all).expect("read");
    let end = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head")
        + 4;
    let head = String::from_utf8_lossy(&all[..end]).into_owned();
    let status = head.lines().next().unwrap_or("").to_owned();
    (status, all[end..].to_vec())
}

/// A paletted PNG's palette and palette indexes, and its RGB pixels.
fn decode_png(bytes: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut dec = png::Decoder::new(bytes);
    dec.set_transformations(png::Transformations::IDENTITY);
    let mut r = dec.read_info().expect("png info (CRCs checked)");
    let palette = r.info().palette.as_deref().expect("a palette").to_vec();
    let mut idx = vec![0; r.output_buffer_size()];
    r.next_frame(&mut idx).expect("png frame");
    let mut dec = png::Decoder::new(bytes);
    dec.set_transformations(png::Transformations::EXPAND);
    let mut r = dec.read_info().expect("png info");
    let mut rgb = vec![0; r.output_buffer_size()];
    r.next_frame(&mut rgb).expect("png frame");
    (palette, idx, rgb)
}

/// A GIF's global palette and its first frame as RGBA.
fn decode_gif(bytes: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut opts = gif::DecodeOptions::new();
    opts.set_color_output(gif::ColorOutput::RGBA);
    let mut d = opts.read_info(bytes).expect("gif info");
    let palette = d.global_palette().expect("a global palette").to_vec();
    let frame = d.read_next_frame().expect("gif frame").expect("one frame");
    (palette, frame.buffer.to_vec())
}

fn conf(docs: &Path, listen: &str) -> String {
    format!(
        "LOAD palimg
CREATE SERVICE pal
  SET role = web_server
  SET listen = {listen}
  SET docroot = {}
  SET plugins = palimg
ENABLE pal
CREATE SERVICE mgmt
  SET role = management
  SET listen = 127.0.0.1:0
ENABLE mgmt
",
        docs.display()
    )
}

const REQUESTS: &[&str] = &[
    "/palimg/logo.png/p0ff00001ff0000",
    "/palimg/logo.png/pg0000000003ffffff",
    "/palimg/logo.png/pt0000ff",
    "/palimg/logo.gif/p2abcdef",
    "/palimg/logo.gif/pg03ffffff00000000",
    "/palimg/logo.gif/pt00ff00202020",
    "/palimg/logo.png",
    "/palimg/note.txt/p0ff0000",
    "/palimg/logo.png/pXYZ",
    "/palimg/logo.png/p0ff000",
    "/palimg/logo.gif/pg0100000001ffffff",
    "/palimg/fake.png/p0ff0000",
];

#[test]
fn perlbal_palimg_rewrites_png_and_gif_palettes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let docs = dir.path();
    std::fs::create_dir(docs.join("palimg")).expect("mkdir");
    let (png_file, gif_file) = (make_png(), make_gif());
    std::fs::write(docs.join("palimg/logo.png"), &png_file).expect("write");
    std::fs::write(docs.join("palimg/logo.gif"), &gif_file).expect("write");
    std::fs::write(docs.join("palimg/note.txt"), "just text\n").expect("write");
    std::fs::write(docs.join("palimg/fake.png"), "not a png at all\n").expect("write");
    let conf_path = docs.join("perlbal.conf");
    std::fs::write(&conf_path, conf(docs, "127.0.0.1:0")).expect("conf");
    let d = Spawn::new("perlbal")
        .arg(format!("--config={}", conf_path.display()))
        .start();
    let pal = d.addr("pal");
    let answers: Vec<(String, Vec<u8>)> = REQUESTS.iter().map(|p| fetch(pal, p)).collect();

    // Entries 0 and 1 replaced, the rest and the pixels unchanged.
    let (status, body) = &answers[0];
    assert_eq!(status, "HTTP/1.0 200 OK");
    assert_eq!(body.len(), png_file.len());
    let (palette, idx, rgb) = decode_png(body);
    assert_eq!(palette, [255, 0, 0, 255, 0, 0, 30, 30, 30, 40, 40, 40]);
    assert_eq!(idx, PIXELS);
    assert_eq!(&rgb[..12], [255, 0, 0, 255, 0, 0, 30, 30, 30, 40, 40, 40]);
    // A gradient from black (0) to white (3).
    let (palette, idx, _) = decode_png(&answers[1].1);
    assert_eq!(palette, [0, 0, 0, 85, 85, 85, 170, 170, 170, 255, 255, 255]);
    assert_eq!(idx, PIXELS);
    // Tinted towards blue from black: 1.80's int(dark + diff * c / 255).
    let (palette, _, _) = decode_png(&answers[2].1);
    let tint: Vec<u8> = PALETTE
        .chunks(3)
        .flat_map(|c| [0, 0, (255 * u32::from(c[2]) / 255) as u8])
        .collect();
    assert_eq!(palette, tint);

    // GIF: one entry, a reversed gradient, a tint with a dark colour.
    let (palette, rgba) = decode_gif(&answers[3].1);
    assert_eq!(
        palette,
        [10, 10, 10, 20, 20, 20, 0xab, 0xcd, 0xef, 40, 40, 40]
    );
    assert_eq!(
        &rgba[8..12],
        [0xab, 0xcd, 0xef, 255],
        "pixel 2 uses entry 2"
    );
    let (palette, _) = decode_gif(&answers[4].1);
    assert_eq!(palette, [0, 0, 0, 85, 85, 85, 170, 170, 170, 255, 255, 255]);
    let (palette, _) = decode_gif(&answers[5].1);
    let tint: Vec<u8> = PALETTE
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let (dark, to) = (0x20i32, if i % 3 == 1 { 0xff } else { 0 });
            (f64::from(dark) + f64::from((to - dark) * i32::from(*v)) / 255.0) as u8
        })
        .collect();
    assert_eq!(palette, tint);

    // No spec: the file as it is; another type: untouched; bad specs and a
    // "PNG" that is not one: 404.
    assert_eq!(answers[6].1, png_file);
    assert_eq!(answers[7].1, b"just text\n");
    for a in &answers[8..] {
        assert_eq!(a.0, "HTTP/1.0 404 Not Found");
    }

    // Debian's 1.80 sends the same bytes.
    if require(
        "Debian's perlbal (/usr/bin/perlbal)",
        have_command("/usr/bin/perlbal"),
    ) {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr")
        };
        let theirs_conf = docs.join("theirs.conf");
        std::fs::write(&theirs_conf, conf(docs, &port.to_string())).expect("conf");
        let theirs = Spawn::external("/usr/bin/perlbal")
            .arg(format!("--config={}", theirs_conf.display()))
            .start();
        assert!(
            wait_for(Duration::from_secs(20), || TcpStream::connect(port).is_ok()),
            "1.80 did not start: {}",
            theirs.stderr()
        );
        for (path, ours) in REQUESTS.iter().zip(&answers).take(8) {
            let t = fetch(port, path);
            assert!(t.0 == ours.0 && t.1 == ours.1, "{path}: 1.80 differs");
        }
        drop(theirs);
    }
    drop(d);
}
