//! Test harness for acr-sync: starts real registries and builds test images.
#![deny(missing_docs)]
