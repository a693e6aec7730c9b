//! Tables in `docs/*.md` written by the tests that measure them: a test renders its block and
//! either writes it between its markers (`STAGESYNC_UPDATE_DOCS=1`) or fails when the document
//! no longer says what the test measured, so a document cannot drift from the code.

use super::workspace_root;

/// Environment variable that makes [`check_block`] rewrite blocks instead of comparing them.
pub const UPDATE_ENV: &str = "STAGESYNC_UPDATE_DOCS";

/// Compares (or, with `STAGESYNC_UPDATE_DOCS` set, writes) the block between
/// `<!-- {marker}:start -->` and `<!-- {marker}:end -->` of `doc` (relative to the workspace).
/// `content` should end with a newline.
pub fn check_block(doc: &str, marker: &str, content: &str) {
    let path = workspace_root().join(doc);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{doc}: {e}"));
    let start = format!("<!-- {marker}:start -->\n");
    let end = format!("<!-- {marker}:end -->");
    let from = text
        .find(&start)
        .unwrap_or_else(|| panic!("{doc} has no {start:?} marker"))
        + start.len();
    let to = text[from..]
        .find(&end)
        .unwrap_or_else(|| panic!("{doc} has no {end:?} marker"))
        + from;
    if std::env::var_os(UPDATE_ENV).is_some() {
        let updated = format!("{}{content}{}", &text[..from], &text[to..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert_eq!(
        &text[from..to],
        content,
        "{doc}'s {marker} block is not what the test measured: rerun with {UPDATE_ENV}=1"
    );
}
