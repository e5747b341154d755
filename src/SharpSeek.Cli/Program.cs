using static TorchSharp.torch;
var a = randn(4, 4);
System.Console.WriteLine(a.sum().item<float>());
System.Console.WriteLine(TorchSharp.torch.get_num_threads());
