//! Datasets. For now: IDX files (MNIST / Fashion-MNIST), including the
//! Fashion-MNIST test split bundled in `assets/`, and the class maps.

pub mod augment;
pub mod classes;
pub mod dataset;
pub mod idx;
pub mod image_folder;
