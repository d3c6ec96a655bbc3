"""End-to-end proofs: real nginx, php-fpm and loopback backends (see README.md)."""
