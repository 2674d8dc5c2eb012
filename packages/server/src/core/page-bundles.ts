/**
 * Decides whether the next bundle still belongs on a pull page. A page ends at a bundle
 * boundary once adding the next bundle would pass `limit` rows, and always holds at least one
 * bundle, however large.
 */
export function fitsOnPage(
  page: { readonly bundles: number; readonly rows: number },
  nextBundleRows: number,
  limit: number,
): boolean {
  return page.bundles === 0 || page.rows + nextBundleRows <= limit;
}
