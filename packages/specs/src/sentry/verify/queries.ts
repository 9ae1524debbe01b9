import { CHILD_SPAN_OP, dashed, isEventId } from "./envelope.js";
import { ERRORS, REPLAYS, TRANSACTIONS } from "./topology.js";

/*
 * The queries the hops run, by id. Values are only ever integers and 32-hex ids (checked here),
 * so they are written into the text: ClickHouse 21.8 takes the dashed UUID literal through
 * toUUID, and Postgres gets the query through psql's -c. A selected expression never takes the
 * name of a column the WHERE clause uses: ClickHouse resolves such a name to the alias there.
 *
 * ClickHouse (database `default`, snuba 23.12.0 snuba/settings/__init__.py; local tables on the
 * single-node cluster): the columns are snuba 23.12.0's
 * - errors_local: project_id, event_id (UUID), group_id, deleted
 *   (snuba/datasets/configuration/events/storages/errors.yaml);
 * - transactions_local: project_id, event_id, transaction_name, the nested `spans.op`, deleted
 *   (snuba/datasets/configuration/transactions/storages/transactions.yaml);
 * - replays_local: project_id, replay_id (UUID), segment_id
 *   (snuba/datasets/configuration/replays/storages/replays.yaml);
 * - outcomes_raw_local: project_id, event_id, outcome, reason
 *   (snuba/datasets/configuration/outcomes_raw/storages/raw.yaml).
 * Postgres (database and user `postgres`, as self-hosted's sentry.conf.py): sentry 23.12.0's
 * - nodestore_node (id = md5("<project id>:<event id>"): src/sentry/nodestore/django/models.py,
 *   src/sentry/eventstore/models.py generate_node_id);
 * - sentry_groupedmessage (model Group: src/sentry/models/group.py);
 * - replays_replayrecordingsegment (src/sentry/replays/models.py: replay_id is 32 hex, the
 *   segment number's column is sequence_id).
 */

/** An id checked before it goes into a query (only ever 32 hex digits). */
export function safeId(id: string): string {
  if (!isEventId(id)) throw new Error(`not an event id: ${id}`);
  return id;
}

const int = (n: number) => {
  if (!Number.isSafeInteger(n)) throw new Error(`not an integer: ${n}`);
  return n;
};

export const QUERIES = {
  errorRow: (projectId: number, id: string) =>
    `SELECT toString(event_id) AS id, group_id FROM ${ERRORS.table} WHERE project_id = ${int(projectId)} AND event_id = toUUID('${dashed(id)}') AND deleted = 0 LIMIT 1`,
  transactionRow: (projectId: number, id: string) =>
    `SELECT toString(event_id) AS id, transaction_name, has(\`spans.op\`, '${CHILD_SPAN_OP}') AS child FROM ${TRANSACTIONS.table} WHERE project_id = ${int(projectId)} AND event_id = toUUID('${dashed(id)}') AND deleted = 0 LIMIT 1`,
  replayRow: (projectId: number, id: string) =>
    `SELECT toString(replay_id) AS id, segment_id FROM ${REPLAYS.table} WHERE project_id = ${int(projectId)} AND replay_id = toUUID('${dashed(id)}') LIMIT 1`,
  droppedOutcome: (projectId: number, id: string) =>
    `SELECT outcome, reason FROM outcomes_raw_local WHERE project_id = ${int(projectId)} AND event_id = toUUID('${dashed(id)}') AND outcome != 0 LIMIT 1`,
  nodestore: (projectId: number, id: string) =>
    `SELECT id FROM nodestore_node WHERE id = md5('${int(projectId)}:${safeId(id)}')`,
  issue: (projectId: number, groupId: number) =>
    `SELECT id, status, times_seen FROM sentry_groupedmessage WHERE id = ${int(groupId)} AND project_id = ${int(projectId)}`,
  recordingSegment: (projectId: number, id: string) =>
    `SELECT file_id, size FROM replays_replayrecordingsegment WHERE project_id = ${int(projectId)} AND replay_id = '${safeId(id)}' AND sequence_id = 0`,
};
