//! Shells: activation code for bash, zsh and fish, the diff that lets leaving a project restore the
//! shell exactly, and trust (which projects may activate automatically).
