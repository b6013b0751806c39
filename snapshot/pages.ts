/** RAM as snapshots store it: 4 KiB pages, of which an all-zero one is not stored. */
export const PAGE = 4096;

const ZERO = Buffer.alloc(PAGE);

/** Whether a page (or a buffer's last, shorter one) is all zero: a whole page at memcmp speed. */
export function zeroPage(page: Uint8Array): boolean {
  if (page.length === PAGE) return Buffer.from(page.buffer, page.byteOffset, PAGE).equals(ZERO);
  for (let i = 0; i < page.length; i++) if (page[i] !== 0) return false;
  return true;
}
