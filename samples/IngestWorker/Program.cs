using System;
using IngestWorker;

return await IngestWorkerApp.RunAsync(args, Console.Out);
