//! The MinAtar games (Young & Tian 2019) as the `minatar` 1.0.15 Python package plays them.
//! GPL-3.0-only, as the package it follows (see LICENSE).

pub mod rng;
