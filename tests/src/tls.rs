//! The TLS tests' shared check on a refused connection. (The throwaway
//! servers with TLS and their certificates: `session_test_support`.)

/// Checks that connecting failed at connect time with one line that names
/// the URL (password masked, as `masked`) and says `fix`.
///
/// # Panics
///
/// When it does not.
pub fn assert_refused<T>(result: Result<T, session_cookie::Error>, masked: &str, fix: &str) {
    let Err(err) = result else {
        panic!("the connection to {masked} was not refused")
    };
    let line = match &err {
        session_cookie::Error::Session(session_cookie::core::Error::Backend(source)) => {
            source.to_string()
        }
        other => panic!("want a backend error, got {other:?}"),
    };
    assert!(!line.contains('\n'), "not one line: {line}");
    assert!(
        line.contains(masked) && !line.contains("s3cret"),
        "the message must name the URL with the password masked: {line}"
    );
    assert!(line.contains(fix), "the message must say `{fix}`: {line}");
}
