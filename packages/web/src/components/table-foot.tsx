/** The foot of a paged table: a spinner while a page loads, then a "Load more" button while there are more pages. */
export function LoadMoreFoot({ loading, more, onMore }: { loading: boolean; more: boolean; onMore: () => void }) {
  return (
    <div className="table-foot">
      {loading && <span className="spinner" />}
      {more && !loading && (
        <button type="button" className="btn" onClick={onMore}>
          Load more
        </button>
      )}
    </div>
  );
}
