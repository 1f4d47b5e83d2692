using InternVit.SK.Cli;

OrtTelemetry.DisableForThisProcess();
return CliApp.Run(args, Console.Out, Console.Error);
