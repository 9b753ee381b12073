using System;
using QuickStart;

return await QuickStartApp.RunAsync(Console.Out, args);
