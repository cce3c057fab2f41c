/**
 * The fleet registry: every member the master knows (upsfleet agents over WebSocket, NUT clients logged
 * in to the NUT server, SSH targets the master reaches itself) with its group and connection. The sequencer orders members through the
 * `MemberChannel` each transport registers, so it never cares how a member is reached.
 */
import type { OrderMsg, SupplyDeclarationT } from '../../shared/protocol/messages.js';

/** agent: upsfleet's own; nut: a stock NUT client; ssh: an agentless host the master powers off over SSH. */
export type MemberKind = 'agent' | 'nut' | 'ssh';

/** NUT clients whose user has no group: they go down at an implicit step just before the master, like NUT secondaries. */
export const SECONDARIES_GROUP = '@secondaries';

/** How the sequencer reaches one connected member. */
export interface MemberChannel {
  /** Deliver a shutdown order. For a NUT client this makes FSD visible to it. */
  sendOrder(order: OrderMsg): void;
}

export interface MemberInfo {
  id: string;
  kind: MemberKind;
  group: string;
  connected: boolean;
  /** Epoch ms of the last message or poll from this member. */
  lastSeen: number | null;
  version: string | null;
  dryRun: boolean;
  address: string | null;
  /** A NUT client that closed its connection after it had seen FSD (epoch ms): it went down. */
  leftAfterFsdAt?: number;
  /** An agent fed by several UPSes: its supplies as it last declared them (hello, then `supplies` messages). */
  supplies?: SupplyDeclarationT;
  /**
   * Why the master itself closed the last connection (missed pings, idle, replaced, stopping, rejected):
   * such a close says nothing about the member and never confirms it down. Absent when the member closed.
   */
  closedByMaster?: string;
  /** The MAC its agent announced in hello (`wol:` capability), kept while it is away: Wake-on-LAN needs it then. */
  mac?: string | null;
  /**
   * What its transport finds wrong now, in words (an SSH target: a refused host key, a failed command, a
   * host that keeps answering): shown in /status and given as the why when a deadline cuts it short.
   */
  problem?: string;
  /** How its last connection ended when its transport says more than "closed" (an SSH target: unreachable for 5s). */
  goneDetail?: string;
}

/** How a connection ended, as its transport saw it. */
export interface DisconnectInfo {
  /** The member closed after seeing FSD (NUT): it went down (epoch ms). Only for a close the member made. */
  leftAfterFsdAt?: number;
  /** The master closed it (its own timer or decision): never a confirmation. */
  closedByMaster?: string;
  /** How it ended, in words, for the journal (a member's own close only). */
  detail?: string;
}

interface Member extends MemberInfo {
  channel: MemberChannel | null;
  /** Known in advance (an agent token, a NUT user with a group): kept while disconnected. */
  declared: boolean;
}

/**
 * A host fed by several UPSes whose other supplies alone still keep it at its minSupplies: this master's
 * UPS going critical does not take it down, so this master does not order it (NUT's MINSUPPLIES).
 */
export function redundantlyFed(supplies: SupplyDeclarationT | undefined): boolean {
  return supplies !== undefined && supplies.others >= supplies.minSupplies;
}

export interface RegistryListener {
  connected?(member: MemberInfo): void;
  disconnected?(member: MemberInfo): void;
  /** A connected agent's count of trusted supplies changed. */
  supplies?(member: MemberInfo): void;
}

export class FleetRegistry {
  private readonly members = new Map<string, Member>();
  private readonly listeners = new Set<RegistryListener>();

  /** Members configured in advance (agents with tokens, NUT users with a group), so an offline one is known and reported. */
  declare(id: string, kind: MemberKind, group: string): void {
    const known = this.members.get(id);
    if (known) {
      known.declared = true;
      return;
    }
    this.members.set(id, {
      id,
      kind,
      group,
      connected: false,
      lastSeen: null,
      version: null,
      dryRun: false,
      address: null,
      channel: null,
      declared: true,
    });
  }

  /** No longer configured (a reload removed it): dropped unless connected, then forgettable like any other. */
  undeclare(id: string): void {
    const m = this.members.get(id);
    if (!m) return;
    m.declared = false;
    if (!m.connected) this.members.delete(id);
  }

  connect(
    info: Omit<MemberInfo, 'connected' | 'lastSeen'> & { lastSeen: number },
    channel: MemberChannel,
  ): void {
    const known = this.members.get(info.id);
    const member: Member = {
      ...info,
      connected: true,
      channel,
      declared: known?.declared ?? false,
    };
    // a reconnect that announces no MAC keeps the one known (a host is woken while it is away)
    if (member.mac == null && known?.mac != null) member.mac = known.mac;
    if (member.problem === undefined && known?.problem !== undefined) member.problem = known.problem;
    this.members.set(info.id, member);
    for (const l of this.listeners) l.connected?.(this.view(member));
  }

  disconnect(id: string, channel: MemberChannel, how: DisconnectInfo = {}): void {
    const m = this.members.get(id);
    // a replaced connection's late close must not mark the new one offline
    if (!m || m.channel !== channel) return;
    m.connected = false;
    m.channel = null;
    if (how.closedByMaster !== undefined) m.closedByMaster = how.closedByMaster;
    else if (how.leftAfterFsdAt !== undefined) m.leftAfterFsdAt = how.leftAfterFsdAt;
    if (how.closedByMaster === undefined && how.detail !== undefined) m.goneDetail = how.detail;
    else delete m.goneDetail;
    for (const l of this.listeners) l.disconnected?.(this.view(m));
  }

  /**
   * Forgets a disconnected member that was never declared in advance (a NUT client that left without being
   * ordered): its id carries its source port, so a reconnect registers anew and the old entry would
   * otherwise sit "offline" at its step until the deadline. A declared member stays (known, offline).
   */
  forget(id: string): void {
    const m = this.members.get(id);
    if (m && !m.connected && !m.declared) this.members.delete(id);
  }

  /** A connected agent told us its supplies changed. */
  updateSupplies(id: string, supplies: SupplyDeclarationT): void {
    const m = this.members.get(id);
    if (!m?.connected) return;
    m.supplies = supplies;
    for (const l of this.listeners) l.supplies?.(this.view(m));
  }

  /** The member's current problem (null: none); kept while it is offline. */
  setProblem(id: string, problem: string | null): void {
    const m = this.members.get(id);
    if (!m) return;
    if (problem === null) delete m.problem;
    else m.problem = problem;
  }

  touch(id: string, now: number): void {
    const m = this.members.get(id);
    if (m) m.lastSeen = now;
  }

  get(id: string): MemberInfo | undefined {
    const m = this.members.get(id);
    return m ? this.view(m) : undefined;
  }

  inGroup(group: string): MemberInfo[] {
    return [...this.members.values()].filter((m) => m.group === group).map((m) => this.view(m));
  }

  all(): MemberInfo[] {
    return [...this.members.values()]
      .map((m) => this.view(m))
      .sort((a, b) => a.group.localeCompare(b.group) || a.id.localeCompare(b.id));
  }

  isConnected(id: string): boolean {
    const m = this.members.get(id);
    return m?.connected === true && m.channel !== null;
  }

  /** Returns false when the member is not connected (the sequencer records it as offline). */
  sendOrder(id: string, order: OrderMsg): boolean {
    const m = this.members.get(id);
    if (!m?.connected || !m.channel) return false;
    m.channel.sendOrder(order);
    return true;
  }

  subscribe(l: RegistryListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  private view(m: Member): MemberInfo {
    const { channel: _channel, declared: _declared, ...info } = m;
    return { ...info };
  }
}
