//! `$(VAR)` references in command, args, env values and `subPathExpr`, with the exact rules of
//! Kubernetes' `third_party/forked/golang/expansion`: `$$` is an escaped `$`, a reference whose
//! name is not mapped stays as written, an unterminated `$(` is copied verbatim, and nothing
//! else (`$VAR`, `${VAR}`, backslashes) is special.
//!
//! Pure string work: it must not know where variables come from.

const OPERATOR: u8 = b'$';
const OPENER: u8 = b'(';
const CLOSER: u8 = b')';

/// Expands `input`, asking `mapping` for each referenced name; a name it does not know
/// (`None`) is written back as `$(NAME)`.
pub fn expand(input: &str, mapping: impl Fn(&str) -> Option<String>) -> String {
    let bytes = input.as_bytes();
    let mut out = String::with_capacity(input.len());
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < bytes.len() {
        if bytes[cursor] == OPERATOR && cursor + 1 < bytes.len() {
            out.push_str(&input[checkpoint..cursor]);
            let rest = &input[cursor + 1..];
            let advance = match rest.as_bytes()[0] {
                // `$$`: an escaped operator.
                OPERATOR => {
                    out.push('$');
                    1
                }
                OPENER => match rest.bytes().skip(1).position(|b| b == CLOSER) {
                    Some(offset) => {
                        let name = &rest[1..1 + offset];
                        match mapping(name) {
                            Some(value) => out.push_str(&value),
                            None => {
                                out.push_str("$(");
                                out.push_str(name);
                                out.push(')');
                            }
                        }
                        offset + 2
                    }
                    // An incomplete reference: copy `$(` and go on after it.
                    None => {
                        out.push_str("$(");
                        1
                    }
                },
                // An operator that starts no expression: copy it and the next character
                // (which may be several bytes long).
                _ => {
                    let next = rest.chars().next().map_or(1, char::len_utf8);
                    out.push('$');
                    out.push_str(&rest[..next]);
                    next
                }
            };
            cursor += advance;
            checkpoint = cursor + 1;
        }
        cursor += 1;
    }
    if checkpoint < input.len() {
        out.push_str(&input[checkpoint..]);
    }
    out
}

/// The mapping of [`expand`] over several contexts, the first holding a name winning
/// (`MappingFuncFor`).
pub fn mapping_for<'a>(contexts: &'a [&'a dyn Lookup]) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| contexts.iter().find_map(|context| context.lookup(name))
}

/// A source of variable values for [`mapping_for`].
pub trait Lookup {
    fn lookup(&self, name: &str) -> Option<String>;
}

impl Lookup for std::collections::HashMap<String, String> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl Lookup for std::collections::BTreeMap<String, String> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// An ordered list of `(name, value)` pairs, later entries winning.
pub struct Pairs<'a>(pub &'a [(String, String)]);

impl Lookup for Pairs<'_> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.0.iter().rev().find(|(key, _)| key == name).map(|(_, value)| value.clone())
    }
}
