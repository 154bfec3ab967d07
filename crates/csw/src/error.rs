//! OWS exceptions (`ows:ExceptionReport`).

use threddex_records::writer::XmlWriter;

use crate::ns;

/// The OWS 1.0 exception codes a CSW answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExceptionCode {
    /// A mandatory parameter is absent.
    MissingParameterValue,
    /// A parameter has a value the service cannot accept.
    InvalidParameterValue,
    /// The `request` names an operation this service does not offer.
    OperationNotSupported,
    /// No version the client accepts is offered.
    VersionNegotiationFailed,
    /// Anything else (unparseable request bodies, server failures).
    NoApplicableCode,
}

impl ExceptionCode {
    /// The code as written in `exceptionCode`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MissingParameterValue => "MissingParameterValue",
            Self::InvalidParameterValue => "InvalidParameterValue",
            Self::OperationNotSupported => "OperationNotSupported",
            Self::VersionNegotiationFailed => "VersionNegotiationFailed",
            Self::NoApplicableCode => "NoApplicableCode",
        }
    }
}

/// An error answered as an `ows:ExceptionReport`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{} ({}): {message}", code.as_str(), locator.as_deref().unwrap_or("-"))]
pub struct CswError {
    /// The exception code.
    pub code: ExceptionCode,
    /// The parameter (or operation) at fault, if any.
    pub locator: Option<String>,
    /// Human-readable detail.
    pub message: String,
    /// HTTP status to answer with.
    pub status: u16,
}

impl CswError {
    fn new(
        code: ExceptionCode,
        locator: Option<&str>,
        message: impl Into<String>,
        status: u16,
    ) -> Self {
        Self {
            code,
            locator: locator.map(str::to_owned),
            message: message.into(),
            status,
        }
    }

    /// `MissingParameterValue` (400).
    pub fn missing(locator: &str) -> Self {
        Self::new(
            ExceptionCode::MissingParameterValue,
            Some(locator),
            format!("missing parameter {locator}"),
            400,
        )
    }

    /// `InvalidParameterValue` (400).
    pub fn invalid(locator: &str, message: impl Into<String>) -> Self {
        Self::new(
            ExceptionCode::InvalidParameterValue,
            Some(locator),
            message,
            400,
        )
    }

    /// `OperationNotSupported` (400; 501 would hide the report from some clients).
    pub fn not_supported(operation: &str) -> Self {
        Self::new(
            ExceptionCode::OperationNotSupported,
            Some(operation),
            format!("operation {operation:?} is not supported"),
            400,
        )
    }

    /// `NoApplicableCode` caused by the client (400), e.g. an unparseable body.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ExceptionCode::NoApplicableCode, None, message, 400)
    }

    /// `NoApplicableCode` for a body over the size limit (413).
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            ExceptionCode::NoApplicableCode,
            None,
            format!("request body larger than {limit} bytes"),
            413,
        )
    }

    /// `NoApplicableCode` for a server failure (500); the detail is not shown to clients.
    pub fn internal() -> Self {
        Self::new(
            ExceptionCode::NoApplicableCode,
            None,
            "internal error: the catalogue could not be read",
            500,
        )
    }

    /// The `ows:ExceptionReport` document.
    pub fn to_xml(&self) -> String {
        let mut w = XmlWriter::new();
        w.start(
            "ows:ExceptionReport",
            &[
                ("xmlns:ows", ns::OWS),
                ("xmlns:xsi", ns::XSI),
                ("version", "1.2.0"),
                ("language", "en"),
                (
                    "xsi:schemaLocation",
                    "http://www.opengis.net/ows http://schemas.opengis.net/ows/1.0.0/owsExceptionReport.xsd",
                ),
            ],
        );
        w.start("ows:Exception", &[("exceptionCode", self.code.as_str())]);
        if let Some(l) = &self.locator {
            w.attr("locator", l);
        }
        w.leaf("ows:ExceptionText", &[], &self.message);
        w.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_carries_code_locator_and_escaped_text() {
        let e = CswError::invalid("outputSchema", "bad <schema> & \"x\"");
        let xml = e.to_xml();
        assert!(xml.contains("exceptionCode=\"InvalidParameterValue\""));
        assert!(xml.contains("locator=\"outputSchema\""));
        assert!(xml.contains("bad &lt;schema&gt; &amp;"));
        assert_eq!(e.status, 400);
        assert_eq!(CswError::internal().status, 500);
        assert!(!CswError::bad_request("x").to_xml().contains("locator"));
    }
}
