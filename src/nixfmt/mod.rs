//! Nix's formats, bit-compatible with real Nix: nixbase32, hashes, store paths, NAR, narinfo and
//! signatures. Pure: no network and no policy; readers and writers stream over `Read`/`Write`.
