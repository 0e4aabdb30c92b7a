//! Checks of the AWS identifiers `engage deploy` writes into its JSON, so a typo
//! fails here with the flag and the value instead of when ECS or Step Functions
//! first runs the definition. Each error is one line naming the flag.

use anyhow::{Result, bail};

fn shown(value: &str) -> String {
    value.escape_debug().to_string()
}

fn is_hex_id(value: &str, prefix: &str) -> bool {
    value.strip_prefix(prefix).is_some_and(|rest| matches!(rest.len(), 8 | 17) && rest.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
}

/// `subnet-` followed by 8 or 17 lowercase hex digits.
pub fn subnet(flag: &str, value: &str) -> Result<()> {
    if !is_hex_id(value, "subnet-") {
        bail!("{flag} '{}' is not a subnet id (subnet- and 8 or 17 hex digits, e.g. subnet-0123456789abcdef0)", shown(value));
    }
    Ok(())
}

/// `sg-` followed by 8 or 17 lowercase hex digits.
pub fn security_group(flag: &str, value: &str) -> Result<()> {
    if !is_hex_id(value, "sg-") {
        bail!("{flag} '{}' is not a security group id (sg- and 8 or 17 hex digits, e.g. sg-0123456789abcdef0)", shown(value));
    }
    Ok(())
}

/// 1-255 letters, digits, '-' or '_' (ECS's rule for cluster, family and container names).
fn ecs_name(value: &str) -> bool {
    (1..=255).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `arn:<partition>:<service>:<region>:<12 digits>:<resource>`; returns the resource.
fn arn<'a>(value: &'a str, service: &str, regional: bool) -> Option<&'a str> {
    let mut parts = value.splitn(6, ':');
    let (Some("arn"), Some(partition), Some(svc), Some(region), Some(account), Some(resource)) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let partition_ok = partition == "aws" || partition.strip_prefix("aws-").is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'));
    let region_ok = if regional { region_name(region) } else { region.is_empty() };
    let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    (partition_ok && svc == service && region_ok && account_ok && !resource.is_empty()).then_some(resource)
}

/// A region name's syntax (the runtime config's aws.region check uses it too).
pub fn region_name(value: &str) -> bool {
    !value.is_empty()
        && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-')
}

pub fn region(flag: &str, value: &str) -> Result<()> {
    if !region_name(value) {
        bail!("{flag} '{}' is not a region name (e.g. eu-west-1)", shown(value));
    }
    Ok(())
}

/// A cluster name or `arn:aws:ecs:<region>:<account>:cluster/<name>`.
pub fn cluster(flag: &str, value: &str) -> Result<()> {
    if !ecs_name_or_arn(value, "cluster/", ecs_name) {
        bail!("{flag} '{}' is not an ECS cluster name (letters, digits, '-', '_') or cluster ARN", shown(value));
    }
    Ok(())
}

/// `family`, `family:revision` or `arn:aws:ecs:<region>:<account>:task-definition/family[:revision]`.
pub fn task_definition(flag: &str, value: &str) -> Result<()> {
    let family_rev = |text: &str| match text.split_once(':') {
        Some((family, revision)) => ecs_name(family) && !revision.is_empty() && revision.bytes().all(|b| b.is_ascii_digit()),
        None => ecs_name(text),
    };
    if !ecs_name_or_arn(value, "task-definition/", family_rev) {
        bail!("{flag} '{}' is not a task definition family[:revision] or task definition ARN", shown(value));
    }
    Ok(())
}

/// `value` is a plain name that `valid` accepts, or an ECS ARN whose resource is `kind` followed by one.
fn ecs_name_or_arn(value: &str, kind: &str, valid: impl Fn(&str) -> bool) -> bool {
    match arn(value, "ecs", true) {
        Some(resource) => resource.strip_prefix(kind).is_some_and(&valid),
        None => !value.starts_with("arn:") && valid(value),
    }
}

/// A container or task definition family name.
pub fn name(flag: &str, value: &str) -> Result<()> {
    if !ecs_name(value) {
        bail!("{flag} '{}' must be 1-255 letters, digits, '-' or '_'", shown(value));
    }
    Ok(())
}

/// `arn:aws[-*]:iam::<12 digits>:role/<path/name>`.
pub fn role_arn(flag: &str, value: &str) -> Result<()> {
    let ok = arn(value, "iam", false).and_then(|r| r.strip_prefix("role/")).is_some_and(|name| {
        !name.is_empty() && !name.ends_with('/') && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-/".contains(&b))
    });
    if !ok {
        bail!("{flag} '{}' is not an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)", shown(value));
    }
    Ok(())
}

/// An image reference: no whitespace or control characters, not empty.
pub fn image(flag: &str, value: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value.len() <= 255
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/:@".contains(&b))
        && !value.starts_with(['/', ':', '@', '-', '.']);
    if !ok {
        bail!("{flag} '{}' is not an image reference (e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/engage:tag)", shown(value));
    }
    Ok(())
}

/// CloudWatch Logs group names: 1-512 of letters, digits, '_', '-', '/', '.', '#'.
pub fn log_group(flag: &str, value: &str) -> Result<()> {
    if !(1..=512).contains(&value.len()) || !value.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-/.#".contains(&b)) {
        bail!("{flag} '{}' is not a log group name (1-512 letters, digits, '_', '-', '/', '.', '#')", shown(value));
    }
    Ok(())
}

/// A path inside the image: absolute, no whitespace.
pub fn image_path(flag: &str, value: &str) -> Result<()> {
    if !value.starts_with('/') || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        bail!("{flag} '{}' must be an absolute path inside the image", shown(value));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert!(subnet("--subnet", "subnet-0123456789abcdef0").is_ok());
        assert!(subnet("--subnet", "subnet-0a1b2c3d").is_ok());
        assert!(subnet("--subnet", "not-a-subnet").is_err());
        assert!(subnet("--subnet", "").is_err());
        assert!(security_group("--security-group", "sg-0c2d3e4f").is_ok());
        assert!(security_group("--security-group", "foo").is_err());
        assert!(cluster("--cluster", "engage-weekly").is_ok());
        assert!(cluster("--cluster", "arn:aws:ecs:eu-west-1:123456789012:cluster/engage").is_ok());
        assert!(cluster("--cluster", "bad cluster!").is_err());
        assert!(task_definition("--task-definition", "engage:3").is_ok());
        assert!(task_definition("--task-definition", "arn:aws:ecs:eu-west-1:123456789012:task-definition/engage:3").is_ok());
        assert!(task_definition("--task-definition", "arn:bad").is_err());
        assert!(role_arn("--task-role-arn", "arn:aws:iam::123456789012:role/path/engage-task").is_ok());
        assert!(role_arn("--task-role-arn", "arn:aws-cn:iam::123456789012:role/t").is_ok());
        assert!(role_arn("--task-role-arn", "arn:aws:s3:::bucket").is_err());
        assert!(role_arn("--task-role-arn", "notanarn").is_err());
        assert!(region("--region", "EU WEST").is_err());
        assert!(image("--image", "engage:test").is_ok());
        assert!(image("--image", "bad image with spaces").is_err());
        assert!(log_group("--log-group", "/engage/weekly").is_ok());
        assert!(log_group("--log-group", "bad group!").is_err());
    }
}
