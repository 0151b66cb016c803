//! Pulls over TLS from a real `docker-registry` that requires client certificates, configured
//! through registries.yaml `configs.<host>.tls` as k3s reads it: `ca_file`, `cert_file` and
//! `key_file` (mutual TLS), `insecure_skip_verify`, and the errors a wrong setting gives.
//! Certificates are made with the `openssl` CLI: a CA, the registry's certificate for
//! 127.0.0.1 and a client certificate, all signed by the CA. Root only, as the other registry
//! tests (they need the registry packages).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{oci_layout, root_or_skip, rt, skopeo_push, start_registry_with, tar_of};
use runtime::image::digest::digest_of;
use runtime::image::pull::{PullError, PullOptions, Puller};
use runtime::image::registries::Registries;
use runtime::image::store::ImageStore;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A certificate signed by `ca` for `extensions` (an openssl extension file's lines).
fn signed_certificate(dir: &Path, name: &str, subject: &str, extensions: &str) {
    std::fs::write(dir.join(format!("{name}.ext")), extensions).unwrap();
    let (key, csr, crt, ext) =
        (format!("{name}.key"), format!("{name}.csr"), format!("{name}.crt"), format!("{name}.ext"));
    openssl(dir, &["req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj", subject]);
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-out",
            &crt,
            "-extfile",
            &ext,
        ],
    );
}

/// `ca.crt`, `server.crt`/`server.key` (127.0.0.1) and `client.crt`/`client.key` in `dir`.
fn certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "1",
            "-subj",
            "/CN=peapod test CA",
        ],
    );
    signed_certificate(
        dir,
        "server",
        "/CN=127.0.0.1",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    );
    signed_certificate(dir, "client", "/CN=peapod test client", "extendedKeyUsage=clientAuth\n");
}

/// registries.yaml sending `host` to its https endpoint with `tls` as the host's TLS config.
fn registries(host: &str, tls: &str) -> Registries {
    let yaml = format!(
        "mirrors:\n  \"{host}\":\n    endpoint: [\"https://{host}\"]\nconfigs:\n  \"{host}\":\n    tls:\n{tls}"
    );
    Registries::parse(&yaml).unwrap()
}

fn tls_lines(entries: &[(&str, &PathBuf)], insecure: bool) -> String {
    let mut lines: String = entries.iter().map(|(k, v)| format!("      {k}: {}\n", v.display())).collect();
    if insecure {
        lines.push_str("      insecure_skip_verify: true\n");
    }
    lines
}

/// The error of the last endpoint tried (the configured one, then the registry's own address,
/// which is the same here).
fn last_endpoint_error(error: PullError) -> PullError {
    match error {
        PullError::AllEndpointsFailed { last, .. } => *last,
        other => other,
    }
}

#[test]
fn pulls_over_mutual_tls() {
    if !root_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let certs = tmp.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    certificates(&certs);
    let (ca, cert, key) = (certs.join("ca.crt"), certs.join("client.crt"), certs.join("client.key"));

    // The image goes in over plain HTTP; the TLS registry then serves the same storage.
    let storage = tmp.path().join("storage");
    let plain = start_registry_with(tmp.path(), Some(&storage), "");
    let layers = vec![tar_of(&[("etc/motd", b"over mutual TLS\n")])];
    skopeo_push(&oci_layout(tmp.path(), &layers, true, false).dir, &format!("{}/tls/app:v1", plain.host()), &[]);
    drop(plain);
    let tls_section = format!(
        "  tls:\n    certificate: {}\n    key: {}\n    clientcas:\n      - {}\n",
        certs.join("server.crt").display(),
        certs.join("server.key").display(),
        ca.display()
    );
    let registry = start_registry_with(tmp.path(), Some(&storage), &tls_section);
    let host = registry.host();
    let reference = format!("{host}/tls/app:v1");
    let rt = rt();
    let store = ImageStore::open(&tmp.path().join("data")).unwrap();
    let pull = |registries: Registries| {
        let puller = Puller::new(store.clone(), registries);
        rt.block_on(puller.pull(&reference, &PullOptions::default())).map_err(last_endpoint_error)
    };

    // The CA but no client certificate: the registry refuses it with a TLS alert.
    let error = pull(registries(&host, &tls_lines(&[("ca_file", &ca)], false))).unwrap_err();
    let message = error.to_string();
    eprintln!("without a client certificate: {message}");
    assert!(message.contains(&host), "{message}");
    assert!(message.contains("received fatal alert: BadCertificate"), "{message}");
    // A client certificate but not the CA: the registry's certificate is not trusted.
    let error = pull(registries(&host, &tls_lines(&[("cert_file", &cert), ("key_file", &key)], false))).unwrap_err();
    eprintln!("without the CA: {error}");
    assert!(error.to_string().contains("UnknownIssuer"), "{error}");
    // A certificate without its key, an unreadable file: configuration errors naming them.
    let error = pull(registries(&host, &tls_lines(&[("ca_file", &ca), ("cert_file", &cert)], false))).unwrap_err();
    assert!(matches!(&error, PullError::Tls { host: h, .. } if *h == host), "{error:?}");
    assert!(error.to_string().contains("cert_file is set without key_file"), "{error}");
    let missing = certs.join("missing.key");
    let error =
        pull(registries(&host, &tls_lines(&[("cert_file", &cert), ("key_file", &missing)], false))).unwrap_err();
    assert!(matches!(error, PullError::Tls { .. }) && error.to_string().contains("missing.key"), "{error}");
    let error = pull(registries(&host, &tls_lines(&[("ca_file", &missing)], false))).unwrap_err();
    assert!(matches!(error, PullError::Tls { .. }) && error.to_string().contains("missing.key"), "{error}");
    // Files that hold no certificate (a key, text that is not PEM): errors naming the file.
    let not_pem = certs.join("not-pem.txt");
    std::fs::write(&not_pem, "not a certificate\n").unwrap();
    for (field, file) in [("ca_file", &key), ("ca_file", &not_pem)] {
        let error = pull(registries(&host, &tls_lines(&[(field, file)], false))).unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, PullError::Tls { .. }), "{error:?}");
        assert!(message.contains(&file.display().to_string()) && message.contains(&host), "{message}");
    }
    let error = pull(registries(&host, &tls_lines(&[("cert_file", &not_pem), ("key_file", &key)], true))).unwrap_err();
    assert!(matches!(error, PullError::Tls { .. }) && error.to_string().contains("not-pem.txt"), "{error}");
    let error = pull(registries(&host, &tls_lines(&[("cert_file", &cert), ("key_file", &not_pem)], true))).unwrap_err();
    assert!(matches!(error, PullError::Tls { .. }) && error.to_string().contains("not-pem.txt"), "{error}");
    // A key that is not the certificate's.
    let error =
        pull(registries(&host, &tls_lines(&[("cert_file", &cert), ("key_file", &certs.join("server.key"))], true)))
            .unwrap_err();
    assert!(matches!(error, PullError::Tls { .. }) && error.to_string().contains("client certificate"), "{error}");
    assert!(store.list().unwrap().is_empty());

    // The CA and the client certificate: pulled.
    let image =
        pull(registries(&host, &tls_lines(&[("ca_file", &ca), ("cert_file", &cert), ("key_file", &key)], false)))
            .unwrap();
    assert_eq!(image.layers[0].diff_id, digest_of(&layers[0]));
    store.remove(&image.name).unwrap();
    // insecure_skip_verify with the client certificate: pulled without the CA.
    let image = pull(registries(&host, &tls_lines(&[("cert_file", &cert), ("key_file", &key)], true))).unwrap();
    assert_eq!(image.layers[0].diff_id, digest_of(&layers[0]));
    assert_eq!(store.list().unwrap().len(), 1);
}
