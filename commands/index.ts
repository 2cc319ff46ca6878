import type { CommandClass } from "clipanion";
import { ProcessCommand } from "./process.ts";
import { ProcessShowCommand } from "./process/show.ts";
import { ProcessPostCommand } from "./process/post.ts";
import { ScanCommand } from "./scan.ts";
import { ScanResultsCommand } from "./scan/results.ts";
import { ScanDiffCommand } from "./scan/diff.ts";
import { ScanProfilesCommand } from "./scan/profiles.ts";
import { ScanImportCommand } from "./scan/import.ts";
import { ScanScheduleAddCommand } from "./scan/schedule/add.ts";
import { ScanScheduleListCommand } from "./scan/schedule/list.ts";
import { ScanScheduleRmCommand } from "./scan/schedule/rm.ts";
import { ScanScheduleRunNowCommand } from "./scan/schedule/run-now.ts";
import { SyncMasterCommand } from "./sync/master.ts";
import { SyncWorkerCommand } from "./sync/worker.ts";
import { SyncStatusCommand } from "./sync/status.ts";
import { SyncGroupsListCommand, SyncGroupsSetCommand } from "./sync/groups.ts";
import { SyncKeygenCommand } from "./sync/keygen.ts";
import { EvalCommand } from "./eval.ts";
import { EvalServeCommand } from "./eval/serve.ts";
import { EvalWorkerCommand } from "./eval/worker.ts";
import { WorkerCommand } from "./worker.ts";
import { UiCommand } from "./ui.ts";
import { TasksSubmitCommand } from "./tasks/submit.ts";
import { TasksListCommand } from "./tasks/list.ts";
import { TasksShowCommand } from "./tasks/show.ts";
import { TasksCancelCommand } from "./tasks/cancel.ts";
import { TasksRetryCommand } from "./tasks/retry.ts";
import { TasksStatsCommand } from "./tasks/stats.ts";
import { TasksWorkersCommand } from "./tasks/workers.ts";

/** Every command falc has; one line each, so stage issues add theirs without touching the rest. */
export const commands: CommandClass[] = [
  ProcessCommand,
  ProcessShowCommand,
  ProcessPostCommand,
  ScanCommand,
  ScanResultsCommand,
  ScanDiffCommand,
  ScanProfilesCommand,
  ScanImportCommand,
  ScanScheduleAddCommand,
  ScanScheduleListCommand,
  ScanScheduleRmCommand,
  ScanScheduleRunNowCommand,
  SyncMasterCommand,
  SyncWorkerCommand,
  SyncStatusCommand,
  SyncGroupsSetCommand,
  SyncGroupsListCommand,
  SyncKeygenCommand,
  EvalCommand,
  EvalServeCommand,
  EvalWorkerCommand,
  WorkerCommand,
  UiCommand,
  TasksSubmitCommand,
  TasksListCommand,
  TasksShowCommand,
  TasksCancelCommand,
  TasksRetryCommand,
  TasksStatsCommand,
  TasksWorkersCommand,
];
