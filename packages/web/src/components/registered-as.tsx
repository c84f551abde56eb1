import type { ModelVersion } from "@cairn/contract";
import { api } from "../lib/api.js";
import { href } from "../lib/router.js";
import { useAsync } from "../lib/use-async.js";
import { quoteFilterValue } from "./alias-badge.js";

/**
 * The model versions registered from these tracking runs (a run, or a pipeline run's step runs), as a
 * facts row of links to their models; nothing when there are none, or on error.
 */
export function RegisteredAs({ runIds }: { runIds: readonly string[] }) {
  const key = runIds.join(",");
  const versions = useAsync(async () => {
    const pages = await Promise.all(runIds.map((id) => api.searchModelVersions({ body: { filter: `run_id = ${quoteFilterValue(id)}`, orderBy: ["name ASC", "version_number ASC"], maxResults: 100 } })));
    return pages.flatMap((p): ModelVersion[] => p.modelVersions);
  }, [key]);
  if (!versions.data?.length) return null;
  return (
    <div>
      <dt>Registered as</dt>
      <dd data-testid="registered-as">
        {versions.data.map((v, i) => (
          <span key={`${v.name}/${v.version}`}>
            {i > 0 && ", "}
            <a href={href(`/models/${encodeURIComponent(v.name)}`)}>
              {v.name} v{v.version}
            </a>
          </span>
        ))}
      </dd>
    </div>
  );
}
