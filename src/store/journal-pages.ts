/**
 * A page of a queue's stored messages when LevelDB is written behind a journal: what LevelDB holds, merged with
 * the message puts still only journaled. A queue that pages (its backlog past its page size) reads back messages
 * it stored moments ago; writing the journal to LevelDB first to read them from there cost a LevelDB put, read and
 * delete per message, which at 10,000 msg/s under load made the broker fall further behind the more it paged. Read
 * from the journal's records in memory, a message consumed within the journal's apply delay reaches LevelDB
 * neither way, as when the queue does not page; and a page read never waits for a LevelDB write.
 */
import type { Level } from 'level';
import { FerryError } from '../errors.js';
import type { BrokerMessage } from '../model/message.js';
import type { JournaledWrites } from './journaled-writes.js';
import { seqOfKey } from './level-codec.js';
import { decodeStoredMessage, PAGE_READ_BYTES, readPage } from './level-pages.js';

/**
 * Up to `limit` messages with keys in (gt, lt), in key order (= store sequence within a destination), handed to
 * `onChunk` a part at a time (as readPage does) until it returns false.
 * @throws FerryError FERRY_STORE when the journal is closed (a store failure: its reopen replays it into LevelDB)
 */
export async function readWithJournal(
  db: Level<string, Uint8Array>,
  journal: JournaledWrites,
  gt: string,
  lt: string,
  limit: number,
  onChunk: (msgs: BrokerMessage[]) => boolean,
): Promise<void> {
  // A LevelDB write of journaled batches under way holds messages that are in neither place until it is done.
  let journaled: ReturnType<JournaledWrites['notYetApplied']>;
  for (;;) {
    const applying = journal.applyInFlight;
    if (applying === null) {
      // In the same turn as the check: no write to LevelDB can start in between. One that starts after it writes
      // what this holds already (the merge drops the second copy); one done before it is in LevelDB's read.
      journaled = journal.notYetApplied(gt, lt, limit);
      break;
    }
    await applying;
  }
  // Closed, what it held may be in neither place until the reopen has replayed it: a short page would tell the
  // queue its backlog is smaller than it is. It pages in again once the store is back.
  if (!journal.isOpen) throw new FerryError('FERRY_STORE', 'the store is reopening; page not read');
  const { puts, deleted } = journaled;
  const gone = deleted.size > 0 ? new Set([...deleted].map(seqOfKey)) : null;
  let j = 0;
  let sent = 0;
  let stopped = false;
  const emit = (msgs: BrokerMessage[]): boolean => {
    sent += msgs.length;
    if (msgs.length > 0 && !onChunk(msgs)) stopped = true;
    return !stopped && sent < limit;
  };
  // Messages removed behind the journal are still in LevelDB: read as many more, and leave them out.
  await readPage(db, gt, lt, limit + deleted.size, (chunk) => {
    const out: BrokerMessage[] = [];
    for (const m of chunk) {
      if (gone?.has(m.seq)) continue;
      // Both are in order: journaled messages below this one go first (usually none: they are the newest).
      for (; j < puts.length && sent + out.length < limit; j++) {
        const seq = seqOfKey(puts[j]![0]);
        if (seq > m.seq) break;
        if (seq < m.seq) out.push(decodeStoredMessage(puts[j]![1]));
      }
      if (sent + out.length >= limit) break;
      out.push(m);
    }
    return emit(out);
  });
  // The rest in parts of about one LevelDB read, as readPage hands them: the queue may stop in between.
  while (!stopped && j < puts.length && sent < limit) {
    const part: BrokerMessage[] = [];
    for (let bytes = 0; j < puts.length && sent + part.length < limit && bytes < PAGE_READ_BYTES; j++) {
      bytes += puts[j]![1].byteLength;
      part.push(decodeStoredMessage(puts[j]![1]));
    }
    emit(part);
  }
}
