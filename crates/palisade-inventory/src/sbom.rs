//! SBOMs: CycloneDX JSON (1.4–1.6) and SPDX JSON (2.3). Packages are identified by their purl;
//! a component without one, or of an ecosystem Palisade does not evaluate, is reported as
//! unevaluable. Decoded into typed structs so a large SBOM costs little more than its size.

use palisade_vulns::ecosystem::debian_codename;
use palisade_vulns::{Ecosystem, PackageKey};
use serde::Deserialize;

use crate::lines::{JsonLocator, Then};
use crate::purl::Purl;
use crate::{Collector, ParseError, error};

/// Nested components deeper than this are refused: no real SBOM nests so deep, and the walk
/// should not be steered by the input.
const MAX_COMPONENT_DEPTH: usize = 64;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bom {
    bom_format: String,
    #[serde(default)]
    components: Option<Vec<Component>>,
}

#[derive(Deserialize)]
struct Component {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    purl: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    components: Option<Vec<Component>>,
}

pub(crate) fn parse_cyclonedx(out: &mut Collector<'_>, content: &[u8]) -> Result<(), ParseError> {
    let bom: Bom = error::json(out.file, content)?;
    if bom.bom_format != "CycloneDX" {
        return Err(out.error(
            None,
            Some("bomFormat"),
            format!("expected \"CycloneDX\", found {:?}", bom.bom_format),
        ));
    }
    let mut lines = JsonLocator::new(content);
    // Depth first in file order with an explicit stack.
    let mut stack: Vec<(Component, usize)> = bom
        .components
        .unwrap_or_default()
        .into_iter()
        .rev()
        .map(|c| (c, 1))
        .collect();
    while let Some((mut c, depth)) = stack.pop() {
        if depth > MAX_COMPONENT_DEPTH {
            return Err(out.error(
                None,
                Some("components"),
                format!("components nested deeper than {MAX_COMPONENT_DEPTH} levels"),
            ));
        }
        let line = c
            .purl
            .as_deref()
            .and_then(|p| lines.member("purl", Then::Str(p)));
        // `excluded`: documented but not part of the runtime (tests, build tools).
        let dev = c.scope.as_deref() == Some("excluded");
        add(
            out,
            c.name.as_deref(),
            c.version.as_deref(),
            c.purl.as_deref(),
            dev,
            line,
        )?;
        if let Some(children) = c.components.take() {
            stack.extend(children.into_iter().rev().map(|c| (c, depth + 1)));
        }
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpdxDocument {
    spdx_version: String,
    #[serde(default)]
    packages: Vec<SpdxPackage>,
    #[serde(default)]
    document_describes: Vec<String>,
    #[serde(default)]
    relationships: Vec<SpdxRelationship>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpdxPackage {
    #[serde(rename = "SPDXID", default)]
    spdx_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    version_info: Option<String>,
    #[serde(default)]
    external_refs: Vec<SpdxRef>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpdxRef {
    #[serde(default)]
    reference_type: Option<String>,
    #[serde(default)]
    reference_locator: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpdxRelationship {
    #[serde(default)]
    spdx_element_id: Option<String>,
    #[serde(default)]
    relationship_type: Option<String>,
    #[serde(default)]
    related_spdx_element: Option<String>,
}

pub(crate) fn parse_spdx(out: &mut Collector<'_>, content: &[u8]) -> Result<(), ParseError> {
    let doc: SpdxDocument = error::json(out.file, content)?;
    if !doc.spdx_version.starts_with("SPDX-") {
        return Err(out.error(
            None,
            Some("spdxVersion"),
            format!("expected \"SPDX-2.x\", found {:?}", doc.spdx_version),
        ));
    }
    // The package the document describes is the scanned thing itself (an image, a folder).
    let mut described: Vec<&str> = doc.document_describes.iter().map(String::as_str).collect();
    described.extend(
        doc.relationships
            .iter()
            .filter(|r| {
                r.spdx_element_id.as_deref() == Some("SPDXRef-DOCUMENT")
                    && r.relationship_type.as_deref() == Some("DESCRIBES")
            })
            .filter_map(|r| r.related_spdx_element.as_deref()),
    );
    let mut lines = JsonLocator::new(content);
    for p in &doc.packages {
        let purl = p
            .external_refs
            .iter()
            .find(|r| r.reference_type.as_deref() == Some("purl"))
            .and_then(|r| r.reference_locator.as_deref());
        if purl.is_none()
            && p.spdx_id
                .as_deref()
                .is_some_and(|id| described.contains(&id))
        {
            continue;
        }
        let line = purl.and_then(|u| lines.member("referenceLocator", Then::Str(u)));
        add(
            out,
            p.name.as_deref(),
            p.version_info.as_deref(),
            purl,
            false,
            line,
        )?;
    }
    Ok(())
}

fn add(
    out: &mut Collector<'_>,
    name: Option<&str>,
    version: Option<&str>,
    purl: Option<&str>,
    dev: bool,
    line: Option<u32>,
) -> Result<(), ParseError> {
    let display_name = name.unwrap_or("");
    let Some(purl_text) = purl else {
        return out.unevaluable(
            None,
            display_name,
            version.unwrap_or(""),
            "no package URL (purl): cannot evaluate",
            line,
        );
    };
    let purl = match Purl::parse(purl_text) {
        Ok(p) => p,
        Err(e) => {
            return out.unevaluable(
                None,
                display_name,
                purl_text,
                &format!("invalid package URL: {e}"),
                line,
            );
        }
    };
    match identify(&purl) {
        Ok((key, purl_version, binaries)) => match purl_version.or(version.map(str::to_owned)) {
            Some(v) if !v.is_empty() => out.package_with_binaries(key, &v, dev, line, binaries),
            _ => out.unevaluable(
                Some(key.ecosystem),
                &key.name,
                purl_text,
                "no version: cannot evaluate",
                line,
            ),
        },
        Err((ecosystem, reason)) => {
            out.unevaluable(ecosystem, display_name, purl_text, &reason, line)
        }
    }
}

type Identified = (PackageKey, Option<String>, Vec<String>);

/// The package key, version and (Debian) binary name a purl stands for.
fn identify(purl: &Purl) -> Result<Identified, (Option<Ecosystem>, String)> {
    let Some(ecosystem) = Ecosystem::from_purl_type(&purl.ty) else {
        return Err((
            None,
            format!(
                "unsupported package URL type {:?}: cannot evaluate",
                purl.ty
            ),
        ));
    };
    let ns = purl.namespace.as_deref();
    let version = purl.version.clone();
    let name = match (ecosystem, ns) {
        (Ecosystem::Npm, Some(scope)) => {
            let scope = scope.strip_prefix('@').unwrap_or(scope);
            format!("@{scope}/{}", purl.name)
        }
        (Ecosystem::Packagist, Some(vendor)) => format!("{vendor}/{}", purl.name),
        (Ecosystem::Debian, _) => return identify_deb(purl),
        _ => purl.name.clone(),
    };
    Ok((PackageKey::new(ecosystem, "", &name), version, Vec::new()))
}

/// `pkg:deb/debian/libssl3@3.0.11-1~deb12u2?upstream=openssl&distro=debian-12`: the binary
/// package; advisories concern the source (`upstream`, possibly `name@version`) in a release.
fn identify_deb(purl: &Purl) -> Result<Identified, (Option<Ecosystem>, String)> {
    let vendor = purl.namespace.as_deref().unwrap_or("");
    if !vendor.eq_ignore_ascii_case("debian") {
        return Err((
            Some(Ecosystem::Debian),
            format!("unsupported distribution {vendor:?}: cannot evaluate"),
        ));
    }
    let release = purl
        .qualifier("distro")
        .map(|d| {
            let d = d.to_ascii_lowercase();
            let d = d.strip_prefix("debian-").unwrap_or(&d).to_owned();
            debian_codename(&d).map_or(d, str::to_owned)
        })
        .unwrap_or_default();
    let (source, source_version) = match purl.qualifier("upstream") {
        Some(up) => match up.split_once('@') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (up, None),
        },
        None => (purl.name.as_str(), None),
    };
    let version = source_version.or_else(|| purl.version.clone());
    Ok((
        PackageKey::new(Ecosystem::Debian, release, source),
        version,
        vec![purl.name.clone()],
    ))
}
