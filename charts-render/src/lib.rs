//! Renders Helm charts natively and lists the images they deploy.
#![deny(missing_docs)]
