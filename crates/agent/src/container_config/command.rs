//! The process a container runs: Kubernetes' command/args rules over the image's ENTRYPOINT
//! and CMD, after `$(VAR)` expansion of `command` and `args` against the container's
//! environment (`ExpandContainerCommandAndArgs`).
//!
//! | `command` | `args` | runs |
//! | --- | --- | --- |
//! | unset | unset | image ENTRYPOINT + CMD |
//! | set | any | `command` + `args` (CMD ignored) |
//! | unset | set | image ENTRYPOINT + `args` |

use super::expansion::{Lookup, Pairs, expand, mapping_for};
use crate::runtime::ImageConfig;

/// The final argv. `env` is the container's environment as the kubelet computed it (the
/// image's env is not a source of `$(VAR)` values). Empty when neither the pod nor the image
/// names anything to run.
pub fn argv(image: &ImageConfig, command: &[String], args: &[String], env: &[(String, String)]) -> Vec<String> {
    let pairs = Pairs(env);
    let contexts: [&dyn Lookup; 1] = [&pairs];
    let mapping = mapping_for(&contexts);
    let command: Vec<String> = command.iter().map(|c| expand(c, &mapping)).collect();
    let args: Vec<String> = args.iter().map(|a| expand(a, &mapping)).collect();
    if !command.is_empty() {
        return command.into_iter().chain(args).collect();
    }
    if !args.is_empty() {
        return image.entrypoint.iter().cloned().chain(args).collect();
    }
    image.entrypoint.iter().chain(image.cmd.iter()).cloned().collect()
}
