//! The README is a front page, and `docs/` holds the rest: every relative link from the README and
//! from each `docs/` page names a file that exists, every `docs/` page is linked from the README,
//! and the README stays at most 200 lines.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The longest the README may be.
const README_MAX_LINES: usize = 200;

/// What the README must link to, at the least.
const README_MUST_LINK: [&str; 6] = [
    "docs/configuration.md",
    "docs/security.md",
    "docs/other-servers.md",
    "docs/sandbox.md",
    "docs/testing.md",
    "BENCHMARKS.md",
];

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn readme() -> String {
    read(&Path::new(ROOT).join("README.md"))
}

/// Every `docs/*.md` page, sorted.
fn docs_pages() -> Vec<PathBuf> {
    let dir = Path::new(ROOT).join("docs");
    let mut pages: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    pages.sort();
    assert!(!pages.is_empty(), "no docs/*.md page");
    pages
}

/// The target of every markdown link or image, `](target)`, outside fenced code blocks.
fn link_targets(markdown: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut in_code_block = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_code_block = !in_code_block;
            continue;
        }
        if in_code_block {
            continue;
        }
        let mut rest = line;
        while let Some(start) = rest.find("](") {
            let after = &rest[start + 2..];
            let Some(end) = after.find(')') else { break };
            targets.push(after[..end].trim().to_string());
            rest = &after[end + 1..];
        }
    }
    targets
}

/// The targets that are paths in this repository, without any `#fragment`: not web addresses,
/// not links within the same page.
fn relative_paths(markdown: &str) -> Vec<String> {
    link_targets(markdown)
        .into_iter()
        .filter(|target| {
            !target.is_empty()
                && !target.starts_with('#')
                && !target.starts_with("http://")
                && !target.starts_with("https://")
                && !target.starts_with("mailto:")
        })
        .map(|target| match target.split_once('#') {
            Some((path, _fragment)) => path.to_string(),
            None => target,
        })
        .collect()
}

/// The paths among `markdown`'s links (read relative to `base`) that name no file.
fn broken_links(markdown: &str, base: &Path) -> Vec<String> {
    relative_paths(markdown).into_iter().filter(|path| !base.join(path).exists()).collect()
}

#[test]
fn the_link_reader_finds_links_and_images_but_not_code_or_web_addresses() {
    let markdown = "See [a](docs/a.md#part) and ![b](docs/b.png), [web](https://example.com), [here](#top).\n\
                    ```sh\n\
                    echo '[x](not/a/link.md)'\n\
                    ```\n\
                    [c](../c.md)\n";
    assert_eq!(relative_paths(markdown), ["docs/a.md", "docs/b.png", "../c.md"]);
}

#[test]
fn every_link_from_the_readme_to_docs_resolves() {
    let readme = readme();
    let broken = broken_links(&readme, Path::new(ROOT));
    assert!(broken.is_empty(), "README.md links to files that do not exist: {broken:?}");

    let linked: BTreeSet<String> = relative_paths(&readme).into_iter().collect();
    for page in README_MUST_LINK {
        assert!(linked.contains(page), "README.md does not link to {page}; it links to {linked:?}");
    }
}

#[test]
fn every_link_from_a_docs_page_resolves() {
    let docs = Path::new(ROOT).join("docs");
    for page in docs_pages() {
        let broken = broken_links(&read(&page), &docs);
        assert!(broken.is_empty(), "{} links to files that do not exist: {broken:?}", page.display());
    }
}

#[test]
fn the_readme_is_a_front_page_of_at_most_200_lines() {
    let lines = readme().lines().count();
    assert!(
        lines <= README_MAX_LINES,
        "README.md has {lines} lines; at most {README_MAX_LINES} (the rest goes in docs/)"
    );
}

#[test]
fn every_docs_page_is_linked_from_the_readme_and_links_back() {
    let linked: BTreeSet<String> = relative_paths(&readme()).into_iter().collect();
    for page in docs_pages() {
        let name = page.file_name().unwrap().to_str().unwrap();
        assert!(linked.contains(&format!("docs/{name}")), "README.md does not link to docs/{name}");

        let text = read(&page);
        let title = text.lines().next().unwrap_or_default();
        assert!(
            title.starts_with("# ") && title.len() > 2,
            "docs/{name} does not start with a one-line `# Title`: {title:?}"
        );
        assert!(
            relative_paths(&text).iter().any(|path| path == "../README.md"),
            "docs/{name} does not link back to the README"
        );
    }
}
