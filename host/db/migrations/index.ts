/**
 * Every schema migration, in order. Add a migration by writing migrations/NNNN_name.ts and
 * appending it here; never edit one that has shipped.
 */
import type { HostMigration } from '../migrate';
import { auditLog } from './0001_audit_log';
// The CA role keeps its migration beside its store (host/ca).
import { caCertificates } from '../../ca/migration';
// The KMS role keeps its migration beside its store (host/kms).
import { kmsKeys } from '../../kms/migration';
// The outbox keeps its migration beside its store (host/outbox).
import { outbox } from '../../outbox/migration';
// The MTMS role keeps its migration beside its store (host/mtms).
import { mtmsTables } from '../../mtms/migration';
import { kmsIntakeSequence } from '../../kms/intakeSequenceMigration';
import { mtmsRepairAuthorisations } from '../../mtms/repairAuthorisationMigration';
import { mtmsKmsKeyPins } from '../../mtms/kmsKeyPinMigration';
import { mtmsLookupBuckets } from '../../mtms/lookupBucketMigration';
import { mtmsTkChallenges } from '../../mtms/deviceChallengeMigration';
// The ledger keeps its migration beside its store (host/payments/ledger).
import { ledger } from '../../payments/ledger/migration';
// The mobile payment platform keeps its migration beside its stores (host/payments/mobile).
import { mobilePayments } from '../../payments/mobile/migration';
// POSP keeps its migration beside its store (host/posp).
import { pospTables } from '../../posp/migration';
// The TMS keeps its migration beside its stores (host/tms).
import { tmsTables } from '../../tms/migration';
// The payment gateway keeps its migration beside its stores (host/gateway).
import { gatewayTables } from '../../gateway/migration';
import { gatewayReaderKeys } from '../../gateway/readerKeyMigration';
import { gatewayCardReaders } from '../../gateway/readerRegistryMigration';
// The merchant directory and the bill platform keep their migrations beside their stores (host/merchants, host/bills).
import { merchantTables } from '../../merchants/migration';
import { billTables } from '../../bills/migration';
// The phone client gateway keeps its migration beside its stores (host/bills/client).
import { billClientTables } from '../../bills/client/migration';
import { billClientEnrolmentBuckets } from '../../bills/client/enrolmentLimitMigration';

export const MIGRATIONS: readonly HostMigration[] = [auditLog, caCertificates, kmsKeys, outbox, mtmsTables, kmsIntakeSequence, mtmsRepairAuthorisations, mtmsKmsKeyPins, mtmsLookupBuckets, mtmsTkChallenges, ledger, mobilePayments, pospTables, tmsTables, gatewayTables, merchantTables, billTables, billClientTables, billClientEnrolmentBuckets, gatewayReaderKeys, gatewayCardReaders];
