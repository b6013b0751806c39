/* Included before LZ4's sources (the Makefile's -include): what its freestanding mode's memmove calls. */
void *lz4_memmove(void *d, const void *s, unsigned n);
