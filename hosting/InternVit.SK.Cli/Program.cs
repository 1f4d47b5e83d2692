using InternVit.SK.Cli;

return CliApp.Run(args, Console.Out, Console.Error);
