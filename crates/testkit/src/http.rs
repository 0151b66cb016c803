//! Raw HTTPS requests to the server through `curl` (verifying the cluster CA, with the admin
//! bearer token unless anonymous), for the API error tests that kubectl cannot express:
//! status codes, headers, `Status` bodies, watch streams.
//!
//! curl rather than a Rust HTTP client keeps this crate small and independent of the server's
//! own TLS stack: a bug there cannot hide itself.

use crate::process::{self, Background, Output};
use crate::server::Server;
use std::process::Command;

/// An HTTP request to the server.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path and query, e.g. `/api/v1/namespaces/default/pods?limit=5`.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// Send no `Authorization` header.
    pub anonymous: bool,
    /// Force HTTP/1.1 (curl otherwise negotiates HTTP/2 through ALPN, as Go clients do).
    pub http1: bool,
}

impl Request {
    pub fn new(method: &str, path: &str) -> Request {
        Request {
            method: method.to_string(),
            path: path.to_string(),
            headers: Vec::new(),
            body: None,
            anonymous: false,
            http1: false,
        }
    }

    pub fn get(path: &str) -> Request {
        Request::new("GET", path)
    }

    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// A body with its `Content-Type`.
    pub fn body(self, content_type: &str, body: impl Into<Vec<u8>>) -> Request {
        let mut request = self.header("Content-Type", content_type);
        request.body = Some(body.into());
        request
    }

    /// A JSON body (`application/json`).
    pub fn json(self, value: &serde_json::Value) -> Request {
        self.body("application/json", value.to_string())
    }

    pub fn anonymous(mut self) -> Request {
        self.anonymous = true;
        self
    }

    pub fn http1(mut self) -> Request {
        self.http1 = true;
        self
    }

    fn curl(&self, server: &Server, streaming: bool) -> Command {
        let mut command = Command::new("curl");
        command.args(["-sS", "--cacert"]).arg(server.ca_file()).args(["-X", &self.method]);
        // No `Expect: 100-continue`: large bodies go at once, as Go clients send them.
        command.args(["-H", "Expect:"]);
        if self.http1 {
            command.arg("--http1.1");
        }
        if streaming {
            command.arg("-N");
        } else {
            command.args(["-i", "--max-time", "60"]);
        }
        if !self.anonymous {
            command.args(["-H", &format!("Authorization: Bearer {}", server.token())]);
        }
        for (name, value) in &self.headers {
            command.args(["-H", &format!("{name}: {value}")]);
        }
        if self.body.is_some() {
            command.args(["--data-binary", "@-"]);
        }
        command.arg(format!("{}{}", server.url(), self.path));
        command
    }
}

/// A complete HTTP response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// What was sent, for failure messages.
    pub request: String,
}

impl HttpResponse {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(key, _)| *key == name).map(|(_, value)| value.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics with the response if it is not.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        match serde_json::from_slice(&self.body) {
            Ok(value) => value,
            Err(error) => panic!("response body is not JSON ({error}): {self}"),
        }
    }

    /// Panics unless the status is `expected`.
    #[track_caller]
    pub fn assert_status(&self, expected: u16) -> &Self {
        assert_eq!(self.status, expected, "unexpected status: {self}");
        self
    }

    /// Panics unless this is a Kubernetes `Status` with that code and reason.
    #[track_caller]
    pub fn assert_status_reason(&self, code: u16, reason: &str) -> serde_json::Value {
        self.assert_status(code);
        let body = self.json();
        assert_eq!(body["kind"], "Status", "not a Status: {self}");
        assert_eq!(body["apiVersion"], "v1", "Status without apiVersion v1: {self}");
        assert_eq!(body["status"], "Failure", "{self}");
        assert_eq!(body["code"], code, "Status.code differs from the HTTP status: {self}");
        assert_eq!(body["reason"], reason, "unexpected reason: {self}");
        body
    }
}

impl std::fmt::Display for HttpResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut body = self.text();
        if body.len() > 4000 {
            let mut cut = 4000;
            while !body.is_char_boundary(cut) {
                cut -= 1;
            }
            body.truncate(cut);
            body.push_str("...");
        }
        write!(f, "{} -> {} {:?}\n{}", self.request, self.status, self.headers, body)
    }
}

impl Server {
    /// Sends `request` and returns the complete response; panics if curl itself fails
    /// (connection refused, TLS failure, a reset stream), which no test expects.
    #[track_caller]
    pub fn send(&self, request: &Request) -> HttpResponse {
        match self.try_send(request) {
            Ok(response) => response,
            Err(output) => panic!("curl failed for {} {}: {output}", request.method, request.path),
        }
    }

    /// Sends `request`; a transport failure is returned as curl's output.
    pub fn try_send(&self, request: &Request) -> Result<HttpResponse, Output> {
        let description = format!("{} {}", request.method, request.path);
        let output = process::run(request.curl(self, false), request.body.as_deref(), process::COMMAND_DEADLINE);
        if !output.success() {
            return Err(output);
        }
        match parse_response(output.stdout.as_bytes()) {
            Some((status, headers, body)) => Ok(HttpResponse { status, headers, body, request: description }),
            None => Err(output),
        }
    }

    /// `GET path` with the admin token.
    #[track_caller]
    pub fn get(&self, path: &str) -> HttpResponse {
        self.send(&Request::get(path))
    }

    /// `POST path` of a JSON object with the admin token.
    #[track_caller]
    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> HttpResponse {
        self.send(&Request::new("POST", path).json(body))
    }

    /// Creates a namespace; panics unless it answers 201.
    #[track_caller]
    pub fn create_namespace(&self, name: &str) {
        let body = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        self.post_json("/api/v1/namespaces", &body).assert_status(201);
    }

    /// Creates a namespace with a name unique in this process, starting with `prefix`.
    #[track_caller]
    pub fn fresh_namespace(&self, prefix: &str) -> String {
        let name = crate::unique_name(prefix);
        self.create_namespace(&name);
        name
    }

    /// A streaming request (a watch): the body lines arrive through the returned process.
    pub fn stream(&self, request: &Request) -> Background {
        Background::spawn(request.curl(self, true))
    }
}

/// A status code, lower-cased headers and the body.
type Parts = (u16, Vec<(String, String)>, Vec<u8>);

/// Splits `curl -i` output into status, headers and body, skipping interim 1xx responses.
fn parse_response(raw: &[u8]) -> Option<Parts> {
    let mut rest = raw;
    loop {
        let end = rest.windows(4).position(|window| window == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&rest[..end]).into_owned();
        let body = &rest[end + 4..];
        let mut lines = head.lines();
        let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
        if (100..200).contains(&status) {
            rest = body;
            continue;
        }
        let headers = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
            .collect();
        return Some((status, headers, body.to_vec()));
    }
}
