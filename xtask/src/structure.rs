//! Structure checks: modules of a crate import each other in one direction only (no cycle),
//! and no library source file grows past the size one concern fills.
//!
//! A module is a file under `src/` (`mod.rs` is its folder's module; `lib.rs` and `main.rs`, the
//! crate's face, are left out). Its edges are the `crate::…` and `super::…` paths it names,
//! resolved to the deepest module file that exists; `crate::Name` re-exported by `lib.rs`
//! resolves to the module it comes from. A path to one of the module's own ancestors is no
//! edge (a child may use its parent's private items).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use crate::policy::rust_files;
use crate::{Result, root};

/// Library source files longer than this fail the check.
const MAX_LINES: usize = 600;

type Module = Vec<String>;

pub(crate) fn structure() -> Result {
    println!("==> structure checks (no module cycles, no library file over {MAX_LINES} lines)");
    let mut problems = Vec::new();
    let crates = std::fs::read_dir(root().join("crates")).map_err(|e| e.to_string())?;
    let mut crates: Vec<PathBuf> = crates.filter_map(|e| e.ok().map(|e| e.path())).collect();
    crates.sort();
    for krate in crates {
        let src = krate.join("src");
        if !src.is_dir() {
            continue;
        }
        let name = krate.file_name().unwrap_or_default().to_string_lossy();
        for cycle in module_cycles(&src) {
            problems.push(format!("{name}: module cycle {}", cycle.join(" <-> ")));
        }
        for file in rust_files(&src) {
            let lines = std::fs::read_to_string(&file)
                .map(|text| text.lines().count())
                .unwrap_or_default();
            if lines > MAX_LINES {
                let rel = file.strip_prefix(root()).unwrap_or(&file);
                problems.push(format!("{}: {lines} lines", rel.display()));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("structure:\n{}", problems.join("\n")))
    }
}

/// The module of `file` under `src`, or `None` for the crate's face.
fn module_of(src: &Path, file: &Path) -> Option<Module> {
    let rel = file.strip_prefix(src).ok()?.with_extension("");
    let mut parts: Module = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    let face = matches!(parts.as_slice(), [one] if one == "lib" || one == "main");
    (!face && parts.first().is_some_and(|p| p != "bin")).then_some(parts)
}

/// Every strongly connected set of more than one module, each sorted, as `a::b` names.
pub(crate) fn module_cycles(src: &Path) -> Vec<Vec<String>> {
    let mut modules: BTreeMap<Module, String> = BTreeMap::new();
    for file in rust_files(src) {
        if let (Some(module), Ok(text)) = (module_of(src, &file), std::fs::read_to_string(&file)) {
            modules.insert(module, strip_comments_and_strings(&text));
        }
    }
    let reexports = std::fs::read_to_string(src.join("lib.rs"))
        .map(|text| reexports(&strip_comments_and_strings(&text)))
        .unwrap_or_default();
    let resolve = |path: &[String]| -> Option<Module> {
        (1..=path.len())
            .rev()
            .map(|n| path[..n].to_vec())
            .find(|m| modules.contains_key(m))
    };
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (module, text) in &modules {
        let mut targets = BTreeSet::new();
        for (head, path) in paths(text) {
            let full: Module = if head == "super" {
                module[..module.len().saturating_sub(1)]
                    .iter()
                    .cloned()
                    .chain(path)
                    .collect()
            } else {
                path
            };
            let target = resolve(&full).or_else(|| {
                full.first()
                    .and_then(|first| reexports.get(first))
                    .and_then(|from| resolve(std::slice::from_ref(from)))
            });
            if let Some(target) = target
                && !module.starts_with(&target)
            {
                targets.insert(target);
            }
        }
        edges.insert(module.clone(), targets);
    }
    strongly_connected(&edges)
        .into_iter()
        .filter(|set| set.len() > 1)
        .map(|set| {
            let mut names: Vec<String> = set.iter().map(|m| m.join("::")).collect();
            names.sort();
            names
        })
        .collect()
}

/// Source text with comments and string literals blanked (so a path in a doc or a message is
/// no edge).
fn strip_comments_and_strings(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1)) {
            (b'/', Some(b'/')) => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            (b'/', Some(b'*')) => {
                i += 2;
                while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            (b'"', _) => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                out.push_str("\"\"");
            }
            (c, _) => {
                out.push(c as char);
                i += 1;
            }
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The `crate::…`/`super::…` paths of `text`, a `{…}` group expanded into its members.
fn paths(text: &str) -> Vec<(&'static str, Module)> {
    let mut found = Vec::new();
    for head in ["crate", "super"] {
        let pattern = format!("{head}::");
        let mut from = 0;
        while let Some(at) = text[from..].find(&pattern) {
            let start = from + at;
            from = start + pattern.len();
            if text[..start].chars().next_back().is_some_and(is_ident) {
                continue;
            }
            for path in expand(&text[from..]) {
                // `super::super::x` climbs; the checks here only need the first level.
                let path: Module = path.into_iter().filter(|p| p != "self").collect();
                if !path.is_empty() {
                    found.push((if head == "crate" { "crate" } else { "super" }, path));
                }
            }
        }
    }
    found
}

/// The paths written at the start of `rest`: `a::b::C` or a group `{a::X, b::{c, d}}`.
fn expand(rest: &str) -> Vec<Module> {
    let rest = rest.trim_start();
    if let Some(inner) = rest.strip_prefix('{') {
        let mut depth = 0;
        let mut end = inner.len();
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    end = i;
                    break;
                }
                '}' => depth -= 1,
                _ => {}
            }
        }
        return split_top_level(&inner[..end])
            .into_iter()
            .flat_map(expand)
            .collect();
    }
    let mut path = Vec::new();
    let mut rest = rest;
    loop {
        let len = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
        if len == 0 {
            break;
        }
        path.push(rest[..len].to_owned());
        rest = &rest[len..];
        match rest.strip_prefix("::") {
            Some(next) if next.starts_with('{') => {
                return expand(next)
                    .into_iter()
                    .map(|tail| path.iter().cloned().chain(tail).collect())
                    .collect();
            }
            Some(next) => rest = next,
            None => break,
        }
    }
    vec![path]
}

fn split_top_level(group: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&group[start..]);
    parts.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

/// `pub use module::{Name, …}` of `lib.rs`: which module each re-exported name comes from.
fn reexports(lib: &str) -> HashMap<String, String> {
    let mut names = HashMap::new();
    let mut from = 0;
    while let Some(at) = lib[from..].find("pub use ") {
        from += at + "pub use ".len();
        for path in expand(&lib[from..]) {
            if let [module, .., name] = path.as_slice() {
                names.entry(name.clone()).or_insert_with(|| module.clone());
            }
        }
    }
    names
}

/// Tarjan's strongly connected components.
fn strongly_connected(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: HashMap<&'a Module, usize>,
        low: HashMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on_stack: BTreeSet<&'a Module>,
        sets: Vec<Vec<Module>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a Module) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.edges.get(v).into_iter().flatten() {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.on_stack.contains(w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut set = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    set.push(w.clone());
                    if w == v {
                        break;
                    }
                }
                self.sets.push(set);
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: HashMap::new(),
        low: HashMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        sets: Vec::new(),
    };
    for v in edges.keys() {
        if !walk.index.contains_key(v) {
            walk.visit(v);
        }
    }
    walk.sets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cycle_between_two_files_is_found_and_one_direction_is_not() {
        let dir = std::env::temp_dir().join(format!("xtask-structure-{}", std::process::id()));
        let src = dir.join("src");
        std::fs::create_dir_all(src.join("b")).unwrap();
        std::fs::write(src.join("lib.rs"), "mod a; mod b;\npub use a::Thing;\n").unwrap();
        std::fs::write(
            src.join("a.rs"),
            "use crate::b::{c::Other, d};\npub struct Thing;\n",
        )
        .unwrap();
        std::fs::write(
            src.join("b/mod.rs"),
            "mod c;\n// crate::a::Thing in a comment\n",
        )
        .unwrap();
        std::fs::write(src.join("b/c.rs"), "use super::super::a;\n").unwrap();
        assert!(module_cycles(&src).is_empty());
        // b::c names the re-exported `crate::Thing`, which lives in `a`: a cycle a <-> b::c.
        std::fs::write(
            src.join("b/c.rs"),
            "fn f() -> crate::Thing { crate::Thing }\n",
        )
        .unwrap();
        assert_eq!(module_cycles(&src), vec![vec!["a", "b::c"]]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
