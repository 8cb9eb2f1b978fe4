import { pack } from '../../core/Codec';
import type { Op } from '../../storage/GroupCommit';
import { userKey } from '../../storage/Keyspace';
import type { NodeStore } from '../../storage/NodeStore';
import { DeliveryQueue } from './DeliveryQueue';
import type { Notification, UserId } from '../../core/Event';
import type { PushCap } from '../../core/config';
import type { OutboundChannel, Settings, SettingsPatch } from '../../core/OutboundDelivery';
import { addressesOf, deferUntil, mergeSettings, pruneDevice, takePushSlot, wants } from './Settings';

/** What a node can send on, and its push fatigue caps. */
export interface DeliveryPolicy {
  channels: ReadonlySet<OutboundChannel>;
  pushCap: PushCap;
  /** Caps for some notification types instead of `pushCap`. */
  pushCapByType: Partial<Record<string, PushCap>>;
}

/**
 * One user's push, SMS and email decisions, made inside the user's mailbox (its UserActor owns one): the
 * user's settings and the push slots already taken, loaded on first use and kept while the actor is active.
 */
export class DeliveryPlanner {
  private userSettings?: Settings;
  private slots?: number[];

  constructor(
    private readonly store: NodeStore,
    private readonly shard: number,
    private readonly user: UserId,
    private readonly policy?: DeliveryPolicy,
  ) {}

  /**
   * Sends for a new entry: the channels the user wants for this type and has an address for, deferred past
   * quiet hours, within push fatigue caps (the slot is taken in the same batch, so two sends can never both
   * take the last one). The jobs go to the node's delivery queue in the same atomic batch as the entry.
   */
  ops(n: Notification, priority: 1 | 2 | 3): Op[] {
    const policy = this.policy;
    if (!policy || policy.channels.size === 0) return [];
    const settings = this.settings;
    const ops: Op[] = [];
    for (const channel of policy.channels) {
      const to = addressesOf(settings, channel);
      if (!to.length || !wants(settings, n.type, channel)) continue;
      const dueAt = deferUntil(settings, Date.now());
      if (channel === 'push') {
        const slots = takePushSlot(this.pushSlots, dueAt, policy.pushCapByType[n.type] ?? policy.pushCap);
        if (!slots) continue;
        this.slots = slots;
        ops.push({ type: 'put', key: userKey(this.shard, 'c', this.user), value: pack(slots) });
      }
      for (const address of to) {
        ops.push(
          DeliveryQueue.enqueueOp(this.shard, {
            channel,
            user: this.user,
            to: address,
            locale: settings.locale,
            notification: n,
            priority,
            dueAt,
            attempts: 0,
          }),
        );
      }
    }
    return ops;
  }

  /** Preferences, devices, locale and time zone. */
  get settings(): Settings {
    this.userSettings ??= this.store.getSync<Settings>(userKey(this.shard, 's', this.user)) ?? {};
    return this.userSettings;
  }

  private get pushSlots(): number[] {
    this.slots ??= this.store.getSync<number[]>(userKey(this.shard, 'c', this.user)) ?? [];
    return this.slots;
  }

  /** Applies a user's update as a merge patch (null removes a part); the next plan reads the new settings. */
  async update(patch: SettingsPatch): Promise<Settings> {
    const next = mergeSettings(this.settings, patch);
    await this.store.durable.write([{ type: 'put', key: userKey(this.shard, 's', this.user), value: pack(next) }]);
    this.userSettings = next;
    return next;
  }

  /** Removes a push token the provider said is gone, recording it in the settings; false if it was not there. */
  async prune(token: string, reason: string): Promise<boolean> {
    const next = pruneDevice(this.settings, token, Date.now(), reason);
    if (!next) return false;
    await this.store.durable.write([{ type: 'put', key: userKey(this.shard, 's', this.user), value: pack(next) }]);
    this.userSettings = next;
    return true;
  }

  /** A write failed: what memory holds may be ahead of the store; read it again next time. */
  forget(): void {
    this.slots = undefined;
  }
}
