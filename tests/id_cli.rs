//! Keyfiles as a user meets them: `bgwasm id new` and `bgwasm id --identity`
//! run as the real binary, in both keyfile forms (the reference system's `M`
//! and padded base64, and standard PKCS#8 PEM), read back, refused when
//! broken, loaded by `bgwasm serve`, and exchanged with OpenSSL when it is
//! installed.

mod common;

use common::bgwasm;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bgwasm::identity::{Did, Identity, PKCS8_ED25519_PREFIX};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The DID of the all-zero seed, as the reference system names it.
const ZERO_SEED_DID: &str = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp";
const ZERO_REFERENCE_BODY: &str =
    "MMC4CAQAwBQYDK2VwBCIEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const ZERO_PKCS8_BODY: &str = "MC4CAQAwBQYDK2VwBCIEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
const END: &str = "-----END PRIVATE KEY-----";
const EXIT_USAGE: i32 = 2;

fn path_arg(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// The DID printed by a successful `bgwasm id ...`.
fn did_of(args: &[&str]) -> String {
    let output = bgwasm(args);
    assert_eq!(
        output.status.code(),
        Some(0),
        "bgwasm {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let did = stdout
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("one line: {stdout:?}"));
    assert!(!did.contains('\n'), "one line: {stdout:?}");
    did.to_owned()
}

/// The 32-byte seed in a keyfile body's PKCS#8 bytes, checked by hand.
fn seed_in(der: &[u8]) -> [u8; 32] {
    assert_eq!(der.len(), 48);
    assert_eq!(der[..16], PKCS8_ED25519_PREFIX);
    der[16..].try_into().unwrap()
}

/// The one body line of a keyfile as `bgwasm id new` writes it.
fn body_line(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines, [BEGIN, lines[1], END], "{text}");
    assert!(text.ends_with('\n'));
    lines[1].to_owned()
}

#[cfg(unix)]
fn assert_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{}", path.display());
}

#[cfg(not(unix))]
fn assert_private(_: &Path) {}

#[test]
fn id_new_writes_the_reference_form_by_default_and_reads_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ref.pem");
    let did = did_of(&["id", "new", "--out", path_arg(&path)]);
    assert_private(&path);

    let body = body_line(&path);
    assert_eq!(body.len(), 65, "{body}");
    let base64 = body.strip_prefix('M').expect("the multibase prefix M");
    let seed = seed_in(&STANDARD.decode(base64).unwrap());
    assert_eq!(Identity::from_seed(&seed).did().to_string(), did);

    assert_eq!(did_of(&["id", "--identity", path_arg(&path)]), did);
    // An explicit --format reference is the same form.
    let explicit = dir.path().join("explicit.pem");
    let did = did_of(&[
        "id",
        "new",
        "--out",
        path_arg(&explicit),
        "--format",
        "reference",
    ]);
    assert!(body_line(&explicit).starts_with("MMC4CAQAwBQYDK2VwBCIEI"));
    assert_eq!(did_of(&["id", "--identity", path_arg(&explicit)]), did);
}

#[test]
fn id_new_format_pkcs8_writes_standard_pem_and_reads_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("std.pem");
    let did = did_of(&["id", "new", "--out", path_arg(&path), "--format", "pkcs8"]);
    assert_private(&path);

    let body = body_line(&path);
    assert_eq!(body.len(), 64, "{body}");
    let seed = seed_in(&STANDARD.decode(&body).unwrap());
    assert_eq!(Identity::from_seed(&seed).did().to_string(), did);

    assert_eq!(did_of(&["id", "--identity", path_arg(&path)]), did);
    assert_eq!(
        did_of(&["id", "--identity", path_arg(&path), "--derive", "a"]),
        Identity::from_seed(&seed).derive("a").did().to_string()
    );
}

#[test]
fn fixed_zero_seed_vectors_in_both_forms_and_layouts_name_the_same_did() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        (
            "reference.pem",
            format!("{BEGIN}\n{ZERO_REFERENCE_BODY}\n{END}\n"),
        ),
        (
            "reference-wrapped.pem",
            format!(
                "{BEGIN}\r\n{}\r\n{}\r\n{END}\r\n",
                &ZERO_REFERENCE_BODY[..33],
                &ZERO_REFERENCE_BODY[33..]
            ),
        ),
        ("pkcs8.pem", format!("{BEGIN}\n{ZERO_PKCS8_BODY}\n{END}\n")),
        (
            "pkcs8-wrapped.pem",
            format!(
                "{BEGIN}\n{}\n  {}\n{END}",
                &ZERO_PKCS8_BODY[..10],
                &ZERO_PKCS8_BODY[10..]
            ),
        ),
    ];
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        assert_eq!(
            did_of(&["id", "--identity", path_arg(&path)]),
            ZERO_SEED_DID,
            "{name}"
        );
    }
}

#[test]
fn a_broken_keyfile_is_refused_naming_file_and_form_without_showing_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let seed: [u8; 32] = *b"keyfile seed, never to be shown!";
    let mut der = PKCS8_ED25519_PREFIX.to_vec();
    der.extend_from_slice(&seed);
    let base64 = STANDARD.encode(&der);

    let cases = [
        // Another multibase prefix on the reference form.
        (
            format!("m{base64}"),
            "the reference form",
            "starts with 'm'",
        ),
        // The reference form cut short.
        (
            format!("M{}", &base64[..50]),
            "the reference form",
            "50 characters long",
        ),
        // Standard PKCS#8 with a stray character.
        (
            format!("{}-{}", &base64[..30], &base64[31..]),
            "standard PKCS#8 PEM",
            "character 31 is '-'",
        ),
        // Standard PKCS#8 of a key that is not Ed25519 (X25519).
        (
            STANDARD.encode([&der[..11], &[0x6e], &der[12..]].concat()),
            "standard PKCS#8 PEM",
            "X25519",
        ),
    ];
    for (i, (body, form, problem)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("broken{i}.pem"));
        std::fs::write(&path, format!("{BEGIN}\n{body}\n{END}\n")).unwrap();
        let output = bgwasm(&["id", "--identity", path_arg(&path)]);
        assert_eq!(output.status.code(), Some(EXIT_USAGE), "{body}");
        assert!(output.stdout.is_empty());
        let stderr = String::from_utf8(output.stderr).unwrap();
        for wanted in [path_arg(&path), form, problem, "bgwasm id new --out FILE"] {
            assert!(stderr.contains(wanted), "{wanted:?} missing: {stderr}");
        }
        // Neither the seed nor any stretch of the base64 that carries it
        // (characters 21.. of the PKCS#8 body) appears.
        assert!(!stderr.contains("never to be shown"), "{stderr}");
        assert!(!stderr.contains(&hex::encode(seed)[..16]), "{stderr}");
        for start in 21..base64.len() - 6 {
            let stretch = &base64[start..start + 6];
            assert!(!stderr.contains(stretch), "shows {stretch}: {stderr}");
        }
    }
}

/// Whether the machine has OpenSSL; if not, says that a check is skipped.
fn has_openssl() -> bool {
    let found = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|output| output.status.success());
    if !found {
        eprintln!("note: openssl is not installed, so the OpenSSL interop check is skipped");
    }
    found
}

/// The DID of the key in a PEM keyfile, as OpenSSL reads it.
fn openssl_did(path: &Path) -> String {
    let output = Command::new("openssl")
        .args(["pkey", "-in", path_arg(path), "-pubout", "-outform", "DER"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "openssl cannot read {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    // The SubjectPublicKeyInfo of an Ed25519 key ends in the 32-byte key.
    let key: &[u8; 32] = output.stdout[output.stdout.len() - 32..]
        .try_into()
        .unwrap();
    Did::from_public_key_bytes(key).unwrap().to_string()
}

#[test]
fn openssl_reads_the_pkcs8_output_and_bgwasm_reads_openssls_keys() {
    if !has_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();

    let ours = dir.path().join("ours.pem");
    let did = did_of(&["id", "new", "--out", path_arg(&ours), "--format", "pkcs8"]);
    let check = Command::new("openssl")
        .args(["pkey", "-in", path_arg(&ours), "-noout"])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert_eq!(openssl_did(&ours), did);

    let theirs = dir.path().join("theirs.pem");
    let made = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "ed25519",
            "-out",
            path_arg(&theirs),
        ])
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    assert_eq!(
        did_of(&["id", "--identity", path_arg(&theirs)]),
        openssl_did(&theirs)
    );
}

/// A `bgwasm serve` process, killed when dropped.
struct Serve(Child);

impl Serve {
    /// Starts `bgwasm serve ARGS` with the extra environment `env`, logging
    /// to `log`; no operator passphrase is inherited.
    fn start(args: &[&str], env: &[(&str, &Path)], log: &Path) -> Serve {
        Serve(
            Command::new(env!("CARGO_BIN_EXE_bgwasm"))
                .arg("serve")
                .args(args)
                .envs(env.iter().copied())
                .env("BGWASM_CACHE_DIR", common::cache_dir())
                .env_remove("OPERATOR_PASS")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(log).unwrap())
                .spawn()
                .expect("starting bgwasm serve"),
        )
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// `GET /healthz` from the daemon at `addr`, if it answers.
fn healthz(addr: SocketAddr) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.starts_with("HTTP/1.1 200").then_some(response)
}

#[test]
fn serve_loads_a_reference_keyfile_from_identity_and_refuses_a_broken_one() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("operator.pem");
    std::fs::write(&key, format!("{BEGIN}\n{ZERO_REFERENCE_BODY}\n{END}\n")).unwrap();
    let addr = free_port();
    let log = dir.path().join("serve.log");
    let serve = Serve::start(
        &[
            "--data-dir",
            path_arg(dir.path()),
            "--listen",
            &addr.to_string(),
        ],
        &[("IDENTITY", &key)],
        &log,
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    let response = loop {
        if let Some(response) = healthz(addr) {
            break response;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon did not come up:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(serve);
    assert!(
        response.contains(&format!("\"did\":\"{ZERO_SEED_DID}\"")),
        "{response}"
    );

    let broken = dir.path().join("broken.pem");
    let body = format!("M{}", &ZERO_PKCS8_BODY[..41]);
    std::fs::write(&broken, format!("{BEGIN}\n{body}\n{END}\n")).unwrap();
    let log = dir.path().join("refused.log");
    let mut serve = Serve::start(
        &[
            "--data-dir",
            path_arg(dir.path()),
            "--listen",
            &free_port().to_string(),
            "--identity",
            path_arg(&broken),
        ],
        &[],
        &log,
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = serve.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not refuse the broken keyfile"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
    let stderr = std::fs::read_to_string(&log).unwrap();
    for wanted in ["broken.pem", "the reference form", "41 characters long"] {
        assert!(stderr.contains(wanted), "{wanted:?} missing: {stderr}");
    }
}
