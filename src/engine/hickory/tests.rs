//! Engine-level tests of the hickory engine: zone loading through a real
//! bundle directory, and answers checked field by field.
